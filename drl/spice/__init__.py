"""drl.spice: discover the equations of learning from bandit choice data (SPICE).

Flat namespace for everything the SPICE tutorials import from ``spice.resources.bandits``,
``spice.resources.rnn`` and ``spice.resources.rnn_utils``: replace those import lines by ``drl.spice``.
"""

from drl.spice.bandits import AgentQ as AgentQ
from drl.spice.bandits import Bandits as Bandits
from drl.spice.bandits import BanditsDrift as BanditsDrift
from drl.spice.bandits import BanditsFixed as BanditsFixed
from drl.spice.bandits import BanditsSwitch as BanditsSwitch
from drl.spice.data import DatasetRNN as DatasetRNN
from drl.spice.data import Experiment as Experiment
from drl.spice.data import create_dataset as create_dataset
from drl.spice.data import load_choice_table as load_choice_table
from drl.spice.precoded import RescorlaWagnerRNN as RescorlaWagnerRNN
from drl.spice.rnn import BaseRNN as BaseRNN
from drl.spice.rnn import Constant as Constant
from drl.spice.rnn import RNNModule as RNNModule
from drl.spice.training import ChanceLevelWarning as ChanceLevelWarning
from drl.spice.training import TrainingResult as TrainingResult
from drl.spice.training import fit_model as fit_model
from drl.spice.training import nll as nll

__all__ = ["AgentQ", "Bandits", "BanditsDrift", "BanditsFixed", "BanditsSwitch", "BaseRNN", "ChanceLevelWarning",
           "Constant", "DatasetRNN", "Experiment", "RNNModule", "RescorlaWagnerRNN", "TrainingResult",
           "create_dataset", "fit_model", "load_choice_table", "nll"]
