"""The ``workflow.patched`` markers of TitleWorkflow: each names a change to the commands a
run issues, and a run that started before it keeps the old commands to its end. The names
are in recorded histories: never rename one (docs/operations.md "Changing TitleWorkflow
safely" says when one may be deprecated)."""

from __future__ import annotations

# The workflow changes of issue 11, one patch for the whole run (workflow.patched memoizes
# it: a run that started before them keeps the old commands to its end). Under it: history
# that does not grow with the title (file lists, the chunk plan and the chunk parts travel
# by key), the ReelflowState search attribute, a lifecycle failure fails the run, studio
# notifications off the critical path, the collision-free ids of older versions.
COMPACT_LIFECYCLE = "compact-lifecycle-11"

# Issue 14: a title with ``options.extra_codecs`` gets a ladder per extra codec (analysed,
# encoded and joined after the main one) in the same package. Asked only when the option is
# set, so runs without it (every recorded history) keep their commands unchanged.
AV1_ALONGSIDE = "av1-alongside-14"

# Issue 25: a video rendition's key class follows its pixel count (width x height), so a
# wide film's 1280x536 rung gets the HD key. A run that made its keys before it keeps the
# height-only classes its history holds.
PIXEL_KEY_CLASSES = "pixel-key-classes-25"
