"""One module per real cell task; each binds the shared stages (pipeline/cells/stages.py) to its dataset."""
