"""Cell and slide image classifiers (design section 5): datasets, the circles generator, training, evaluation."""
