"""`warmup-autoscaler simulate`: replay a series of mailbox counts through the real decision
engine on simulated time, and measure what each setting profile would have done.

    series.py    where counts come from: generators, a CSV file, the stored samples
    profiles.py  the setting profiles: current, the seed's three, the modes, --set variants
    replay.py    one check per point, the real `policy.decide`, cooldowns on simulated time
    figures.py   under-capacity, worker-hours, actions, flaps, time above up, peak backlog
    plot.py      mailboxes against each profile's capacity (matplotlib, imported on demand)
"""

from warmup_autoscaler.simulation.figures import Figures, measure
from warmup_autoscaler.simulation.profiles import Profile, build_profiles
from warmup_autoscaler.simulation.replay import Replay, replay
from warmup_autoscaler.simulation.series import GENERATORS, Series, generate, read_csv

__all__ = [
    "GENERATORS",
    "Figures",
    "Profile",
    "Replay",
    "Series",
    "build_profiles",
    "generate",
    "measure",
    "read_csv",
    "replay",
]
