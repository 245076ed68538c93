"""Layer 4, the judge: observations -> checks -> outcome, with the model of upstream behaviour.

One judge for the matrix, repro and every backend; backends observe, they never judge."""
