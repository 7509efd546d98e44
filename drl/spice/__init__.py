"""drl.spice: discover the equations of learning from bandit choice data (SPICE).

Flat namespace for everything the SPICE tutorials import from ``spice.estimator``, ``spice.precoded``,
``spice.resources.bandits``, ``spice.resources.rnn``, ``spice.resources.rnn_utils`` and
``spice.utils.plotting``: replace those import lines by ``drl.spice``.
"""

from drl._lazy import deprecated_names
from drl.spice.agents import AgentNetwork as AgentNetwork
from drl.spice.agents import AgentQ as AgentQ
from drl.spice.bandits import Bandits as Bandits
from drl.spice.bandits import BanditsDrift as BanditsDrift
from drl.spice.bandits import BanditsFixed as BanditsFixed
from drl.spice.bandits import BanditsSwitch as BanditsSwitch
from drl.spice.baselines import Q_LEARNING_BOUNDS as Q_LEARNING_BOUNDS
from drl.spice.baselines import QLearningFit as QLearningFit
from drl.spice.baselines import fit_q_learning as fit_q_learning
from drl.spice.baselines import q_learning_logits as q_learning_logits
from drl.spice.checks import check_choice_arrays as check_choice_arrays
from drl.spice.comparison import ModelComparison as ModelComparison
from drl.spice.comparison import compare_models as compare_models
from drl.spice.comparison import term_stability as term_stability
from drl.spice.config import SpiceConfig as SpiceConfig
from drl.spice.data import DatasetRNN as DatasetRNN
from drl.spice.data import Experiment as Experiment
from drl.spice.data import choice_data as choice_data
from drl.spice.data import create_dataset as create_dataset
from drl.spice.estimator import PATIENCE as PATIENCE
from drl.spice.estimator import SINDY_THRESHOLDS as SINDY_THRESHOLDS
from drl.spice.estimator import SpiceEstimator as SpiceEstimator
from drl.spice.losses import ChanceLevelWarning as ChanceLevelWarning
from drl.spice.losses import TrainingResult as TrainingResult
from drl.spice.losses import nll as nll
from drl.spice.losses import tail_steps as tail_steps
from drl.spice.modules import Constant as Constant
from drl.spice.modules import RNNModule as RNNModule
from drl.spice.plotting import plot_session as plot_session
from drl.spice.precoded import FORGETTING_CONFIG as FORGETTING_CONFIG
from drl.spice.precoded import LEARNING_RATE_RNN_CONFIG as LEARNING_RATE_RNN_CONFIG
from drl.spice.precoded import RESCORLA_WAGNER_CONFIG as RESCORLA_WAGNER_CONFIG
from drl.spice.precoded import WEINHARDT_2024_CONFIG as WEINHARDT_2024_CONFIG
from drl.spice.precoded import ForgettingRNN as ForgettingRNN
from drl.spice.precoded import LearningRateRNN as LearningRateRNN
from drl.spice.precoded import RescorlaWagnerRNN as RescorlaWagnerRNN
from drl.spice.precoded import Weinhardt2024RNN as Weinhardt2024RNN
from drl.spice.rnn import BaseRNN as BaseRNN
from drl.spice.sindy import SindyEquation as SindyEquation
from drl.spice.sindy import distill as distill
from drl.spice.tables import load_choice_table as load_choice_table
from drl.spice.training import fit_model as fit_model

__all__ = ["FORGETTING_CONFIG", "LEARNING_RATE_RNN_CONFIG", "PATIENCE", "Q_LEARNING_BOUNDS", "RESCORLA_WAGNER_CONFIG", "SINDY_THRESHOLDS", "WEINHARDT_2024_CONFIG", "AgentNetwork", "AgentQ",
           "Bandits", "BanditsDrift", "BanditsFixed", "BanditsSwitch", "BaseRNN", "ChanceLevelWarning",
           "Constant", "DatasetRNN", "Experiment", "ForgettingRNN", "LearningRateRNN", "ModelComparison",
           "QLearningFit", "RNNModule", "RescorlaWagnerRNN", "SindyEquation", "SpiceConfig", "SpiceEstimator",
           "TrainingResult", "Weinhardt2024RNN", "check_choice_arrays", "choice_data", "compare_models", "create_dataset",
           "distill", "fit_model", "fit_q_learning", "load_choice_table", "nll", "plot_session",
           "q_learning_logits", "tail_steps", "term_stability"]

# the SPICE tutorials' spelling, once exported beside the right one: one export per object
__getattr__ = deprecated_names(__name__, {"RESCOLA_WAGNER_CONFIG": ("drl.spice.precoded", "RESCORLA_WAGNER_CONFIG")})
