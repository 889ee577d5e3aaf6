"""What defines a training run (``TrainConfig``) and what it did (``TrainResult``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from training.fcus_losses import SpectralPriors

DEFAULT_EVAL_EPOCHS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class TrainConfig:
    """Everything that defines a training run. The three FCUS components are ``masking``,
    ``smoothing`` and ``null_space``; their settings follow each switch."""

    epochs: float = 1.0  # fractional allowed
    batch_size: int = 4  # used by train_main to build the sampler (the sampler owns batching)
    lr: float = 3e-3  # 1e-3 needed 2 epochs for what 3e-3 reaches in 1 (docs/fcus_study.md)
    weight_decay: float = 1e-4
    seed: int = 0
    fs_hz: float = 30.0
    window_frames: int = 160
    grad_clip: float | None = 5.0
    two_views: bool = True  # cross-view agreement on two augmented views (needs sampler.two_views)
    # Spectral priors and loss weights (see training.fcus_losses.SpectralPriors)
    lo_hz: float = 0.66
    hi_hz: float = 3.0
    w_bandwidth: float = 1.0
    w_sparsity: float = 1.0
    w_variance: float = 1.0
    w_cross_view: float = 1.0
    w_cross_clip: float = 0.05
    # 1. post-verification masking (gradient level) + step verification
    masking: bool = True
    mask_min_prominence: float = 0.2
    mask_max_colour_slope: float = 0.03
    mask_min_keep: float = 0.25  # share of the batch always kept (the best-scoring samples)
    # epochs during which only the amplitude check masks (an untrained net's output is mostly drift,
    # so the spectral checks would mask most of the batch exactly when its gradient teaches most)
    mask_warmup_epochs: float = 0.5
    undo_worse_steps: bool = True
    undo_rel_tolerance: float = 0.05
    # 2. perturbation-based smoothing (loss-landscape level)
    smoothing: bool = True
    smoothing_mode: str = "sam"  # "sam" | "random"
    sam_rho: float = 0.05
    # 3. noise-aware null-space regularisation (feature level)
    null_space: bool = True
    null_mode: str = "penalty"  # "penalty" | "project" | "both"
    null_weight: float = 0.1
    null_k: int = 4
    null_momentum: float = 0.99
    null_energy_threshold: float = 0.05
    null_background: bool = True  # background crops as noise references
    null_out_of_band: bool = True  # out-of-band part of the face features as noise references
    # bookkeeping
    eval_epochs: tuple[float, ...] = DEFAULT_EVAL_EPOCHS
    device: str = "auto"
    checkpoint_dir: str | None = None
    checkpoint_every: int = 100  # steps
    resume: bool = True
    max_steps: int | None = None  # stop after this global step (an interruption, for tests)
    num_threads: int | None = None  # torch CPU threads (None: leave torch's choice)
    deterministic: bool = True
    progress: bool = True
    orient: bool = True  # orient the sign like POS after training
    init_weights: str | None = None  # fine-tuning: the weights the run started from (a resumed run must match)

    def __post_init__(self) -> None:
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0 (got {self.epochs})")
        if self.smoothing_mode not in ("sam", "random"):
            raise ValueError(f"smoothing_mode must be 'sam' or 'random' (got {self.smoothing_mode!r})")
        if self.null_mode not in ("penalty", "project", "both"):
            raise ValueError(f"null_mode must be 'penalty', 'project' or 'both' (got {self.null_mode!r})")
        self.eval_epochs = tuple(float(e) for e in self.eval_epochs)

    @property
    def priors(self) -> SpectralPriors:
        return SpectralPriors(
            lo_hz=self.lo_hz, hi_hz=self.hi_hz, w_bandwidth=self.w_bandwidth, w_sparsity=self.w_sparsity,
            w_variance=self.w_variance, w_cross_view=self.w_cross_view, w_cross_clip=self.w_cross_clip,
        )

    def components(self) -> dict[str, bool]:
        return {"masking": self.masking, "smoothing": self.smoothing, "null_space": self.null_space}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eval_epochs"] = list(self.eval_epochs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        if "eval_epochs" in values:
            values["eval_epochs"] = tuple(values["eval_epochs"])
        return cls(**values)


# Fields that do not change the trajectory of the first steps: a checkpoint may be resumed with
# other values of these.
RESUME_FREE = {
    "epochs", "eval_epochs", "device", "checkpoint_dir", "checkpoint_every", "resume", "max_steps",
    "num_threads", "progress", "orient", "batch_size", "window_frames",
}


@dataclass
class TrainResult:
    """What a run did: per-step history, evaluations at the requested epochs, timings."""

    steps: int = 0
    steps_per_epoch: int = 0
    epochs: float = 0.0
    history: list[dict] = field(default_factory=list)  # one dict per step
    evaluations: list[dict] = field(default_factory=list)  # {"epoch", "step", "result", "elapsed_s"}
    epoch_times_s: list[float] = field(default_factory=list)
    undone_steps: int = 0
    masked_share: float = 0.0  # over all steps: share of samples masked
    train_time_s: float = 0.0
    device: str = "cpu"
    resumed_from_step: int | None = None
    orientation: dict | None = None
    config: dict = field(default_factory=dict)
    # whether the null-space term acted: asked for and the model gives features (a net without its
    # learned path has none)
    null_space_active: bool = False

    @property
    def losses(self) -> list[float]:
        return [h["loss"] for h in self.history]

    def to_dict(self) -> dict:
        return asdict(self)
