"""Gates: whether a system may take its next step under change control, decided purely.

What it is: the cutover gate (``cutover.decide``: approval, freeze, schedule,
maintenance window, dependency group, rehearsal and downtime budget → go, or
wait with one reason) and the order in which a dependency group cuts over
(``cutover.cutover_order``). Every fact comes in as a value, the clock too.

What it is not: it reads no store, no file and no clock, and changes no
state: the worker asks it, then applies ``StartCutover`` or records the wait.
"""

from orchestrator.gates.cutover import (
    ApprovalGate,
    CutoverCase,
    Go,
    GroupGate,
    Member,
    Wait,
    WaitReason,
    calendar_facts,
    cutover_order,
    decide,
)

__all__ = [
    "ApprovalGate",
    "CutoverCase",
    "Go",
    "GroupGate",
    "Member",
    "Wait",
    "WaitReason",
    "calendar_facts",
    "cutover_order",
    "decide",
]
