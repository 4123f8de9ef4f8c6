"""What book/initialization.md derives from the stored initialization study (no training here): per-seed readings
(common), the regime comparison (regimes), the seeds' table, the uniform scale, theory starts and β (seeds), and the
frames the registry's claims are judged on (frames)."""

from vqlib.analysis.initialization.common import (  # noqa: F401
    BETA_MARGIN,
    FX,
    LN,
    SEED_RANGES,
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
)
from vqlib.analysis.initialization.frames import (  # noqa: F401
    beta_frame,
    regime_frame,
    scale_frame,
    seed_table_frame,
    setting_frame,
)
from vqlib.analysis.initialization.regimes import (  # noqa: F401
    regime_table,
    regime_values,
    regimes_figure,
    step0_table,
    stops_table,
    trained_table,
)
from vqlib.analysis.initialization.seeds import (  # noqa: F401
    best_readings,
    beta_final,
    beta_table,
    beta_values,
    readings_table,
    root_cause,
    scale_figure,
    scale_sweep,
    seed_side_table,
    seed_table_values,
    theory_values,
    utilization_readings,
)
