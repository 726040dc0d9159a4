"""Reports a person reads: the datasheet (model card) of a fitted pipeline."""
