"""What book/initialization.md derives from the stored initialization study (no training here): per-seed readings
(common), the regime comparison (regimes), and the seeds' table, the uniform scale, theory starts and β (seeds)."""

from vqlib.analysis.initialization.common import (  # noqa: F401
    BETA_MARGIN,
    FX,
    LN,
    SEED_RANGES,
    SRC_BETA,
    SRC_FOCUS,
    SRC_TABLE,
    beats,
    curves_figure,
    fixed_curves,
    invariance_table,
    learned_inits,
    main_tables,
    main_values,
    pca_residual,
    per_seed,
    settle_steps,
    start_end,
    within_margin,
)
from vqlib.analysis.initialization.regimes import (  # noqa: F401
    hypothesis_verdict,
    regime_claims,
    regime_table,
    regimes_figure,
    step0_table,
    trained_table,
)
from vqlib.analysis.initialization.seeds import (  # noqa: F401
    best_readings,
    beta_claims,
    beta_final,
    beta_table,
    readings_table,
    root_cause,
    scale_figure,
    scale_sweep,
    seed_side_table,
    seed_table_claims,
    theory_claim,
    utilization_readings,
)
