"""The `breast` task: the shared cell stages bound to its dataset adapter."""

from pipeline.cells.stages import task_module_parts

STAGES, add_commands, configure_stage = task_module_parts("breast")
