"""What book/initialization.md derives from the stored initialization study (no training here): per-seed readings
(common), the regime comparison (regimes), and the seeds' table, the uniform scale, theory starts and β (seeds)."""

from vqlib.analysis.initialization.common import (  # noqa: F401
    FX,
    LN,
    SEED_RANGES,
    SRC_TABLE,
    SRC_FOCUS,
    SRC_BETA,
    BETA_MARGIN,
    start_end,
    settle_steps,
    beats,
    within_margin,
    fixed_curves,
    learned_inits,
    pca_residual,
    per_seed,
    invariance_table,
    main_tables,
    curves_figure,
    main_values,
)
from vqlib.analysis.initialization.regimes import (  # noqa: F401
    regime_table,
    step0_table,
    trained_table,
    regimes_figure,
    hypothesis_verdict,
    regime_claims,
)
from vqlib.analysis.initialization.seeds import (  # noqa: F401
    utilization_readings,
    best_readings,
    seed_side_table,
    seed_table_claims,
    readings_table,
    scale_sweep,
    root_cause,
    scale_figure,
    theory_claim,
    beta_final,
    beta_table,
    beta_claims,
)
