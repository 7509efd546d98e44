"""Which modules of a SPICE network to distil, and with which recorded signals."""

from __future__ import annotations

from dataclasses import dataclass, field

from drl._validate import choice

__all__ = ["SpiceConfig"]


def _names(name: str, values) -> list[str]:
    if isinstance(values, str) or not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a list of names; got {values!r}")
    return list(values)


@dataclass(frozen=True)
class SpiceConfig:
    """Which modules to distil and with which signals (the tutorials' ``SpiceConfig``).

    Parameters
    ----------
    rnn_modules : list of str
        The learned modules to distil (``x_...``).
    control_parameters : list of str
        The recorded control signals (``c_...``).
    library_setup : dict of str to list of str
        Module → the controls its equation may use (in the order the module receives them).
    filter_setup : dict
        Module → ``[signal, value, remove]`` or a list of such triplets: keep the samples where the recorded
        ``signal`` equals ``value``; ``remove`` drops the signal from the module's controls.

    Raises
    ------
    ValueError
        A module or control named in one field and not the others, a malformed filter.

    See Also
    --------
    RESCORLA_WAGNER_CONFIG, FORGETTING_CONFIG, LEARNING_RATE_RNN_CONFIG, WEINHARDT_2024_CONFIG : the precoded ones.

    Examples
    --------
    >>> from drl import spice
    >>> config = spice.RESCORLA_WAGNER_CONFIG
    >>> config.rnn_modules, config.library_setup
    (['x_value_reward_chosen'], {'x_value_reward_chosen': ['c_reward']})
    """

    rnn_modules: list
    control_parameters: list
    library_setup: dict = field(default_factory=dict)
    filter_setup: dict = field(default_factory=dict)

    def __post_init__(self):
        modules = _names("rnn_modules", self.rnn_modules)
        controls = _names("control_parameters", self.control_parameters)
        for name in ("library_setup", "filter_setup"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a dict of module name -> "
                                f"{'controls' if name == 'library_setup' else 'conditions'}; got "
                                f"{getattr(self, name)!r}")
        for key, allowed in self.library_setup.items():
            choice("module in library_setup", key, modules)
            for name in _names(f"library_setup[{key!r}]", allowed):
                choice(f"control in library_setup[{key!r}]", name, controls)
        for key in self.filter_setup:
            choice("module in filter_setup", key, modules)
            for condition in self.conditions(key):
                if len(condition) != 3 or not isinstance(condition[0], str):
                    raise ValueError(f"filter_setup[{key!r}] conditions must be [signal, value, remove] triplets; "
                                     f"got {condition!r}")
                choice(f"filter signal in filter_setup[{key!r}]", condition[0], controls + modules)
        missing = [m for m in modules if m not in self.library_setup]
        if missing:
            raise ValueError(f"library_setup has no entry for module(s) {missing}; give [] for no controls")

    def conditions(self, module: str) -> list:
        spec = self.filter_setup.get(module, [])
        if spec and not isinstance(spec[0], list | tuple):
            return [list(spec)]
        return [list(c) for c in spec]

    def controls(self, module: str) -> list[str]:
        return list(self.library_setup.get(module, []))
