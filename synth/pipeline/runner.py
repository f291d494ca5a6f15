"""Running a plan: sources -> per-sequence tasks (in process, a local process pool, or Ray) -> shards.

Reliability rules:
- everything is written atomically; a sequence is finished only when its done-marker exists
  (written after its sample tar), so `--resume` after any crash (even SIGKILL) redoes only
  unfinished sequences, and because every sequence depends only on the plan, the result is the
  same dataset as an uninterrupted run;
- a failing sequence is retried `run.retries` times (cloth substeps doubled each time), then
  recorded in `failures.jsonl` and the run goes on; a full disk stops the run with a clear message;
- shards are packed from the finished sequences in plan order at the end (`synth shard` re-packs).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synth.errors import SynthError
from synth.io import atomic_path, save_json_atomic
from synth.pipeline.config import PipelineConfig, config_from_dict, config_to_yaml, validate_config
from synth.pipeline.lock import output_lock
from synth.pipeline.plan import Plan, Source, make_plan, resolve_sources
from synth.pipeline.stages import (
    STAGES,
    SequenceResult,
    done_path,
    get_body,
    run_sequence,
    sample_tar_path,
    scene_settings,
    set_threads,
    source_path,
    work_dir,
)


@dataclass
class RunSummary:
    out: str
    planned: int = 0
    done: int = 0
    skipped: int = 0  # finished by an earlier run (--resume)
    failed: list = field(default_factory=list)
    frames: int = 0
    samples: int = 0
    times: dict = field(default_factory=dict)  # stage -> seconds summed over sequences run now
    wall_s: float = 0.0
    shards: list = field(default_factory=list)


def check_disk(out: Path, min_free_gb: float) -> None:
    free = shutil.disk_usage(out).free / 2**30
    if free < min_free_gb:
        raise SynthError(
            f"only {free:.2f} GiB free on the output disk (run.min_free_gb is {min_free_gb:g})",
            path=out,
            fix="free some space, or point --out at a bigger disk (or lower run.min_free_gb), then re-run with --resume",
        )


def check_assets_and_settings(cfg: PipelineConfig) -> None:
    """Everything every sequence would trip over, checked before hours of work start: asset folders
    (present, not empty, every image decodable) and the scene settings (one scene is sampled)."""
    from synth.scene import sample_scene
    from synth.scene.render_assets import check_asset, check_decodable, list_hdris, list_photos, list_textures

    for key, manifest in (("hdri_dir", "hdri_polyhaven"), ("photo_dir", "places365"), ("texture_dir", "dtd")):
        value = getattr(cfg.render, key)
        if value and not Path(value).expanduser().is_dir():
            raise SynthError(
                f"render.{key} points to a missing folder",
                path=value,
                fix=f"download it as described in assets_manifest/{manifest}.yaml, or set render.{key}: '' for the default",
            )
    for key, lister in (("hdri_dir", list_hdris), ("photo_dir", list_photos), ("texture_dir", list_textures)):
        if getattr(cfg.render, key):
            check_decodable(lister(getattr(cfg.render, key)), key)
    spec = sample_scene(cfg.seed, scene_settings(cfg))
    check_asset(spec.background.get("path", ""), "background")


def prepare_sources(out: Path, sources: list[Source], cfg: PipelineConfig) -> dict:
    """MoshedSequence of every source (built-ins generated, clips MoSh-fitted, cached), saved
    under work/sources for the tasks."""
    from synth.sequence import MoshedSequence

    seqs = {}
    body = None
    for s in sources:
        path = source_path(out, s.id)
        if path.is_file():
            seqs[s.id] = MoshedSequence.load(path)
            continue
        if s.kind == "builtin":
            from synth.mocap.builtin import builtin_motion

            seq = builtin_motion(s.id.split("/", 1)[1], cfg.motion.fps, cfg.motion.builtin_seconds)
        else:
            from synth.mocap import load_clip
            from synth.mosh.fit import mosh_clip, require_good_fit

            body = body or get_body()
            clip = load_clip(s.path, body=body)
            seq = require_good_fit(mosh_clip(clip, body, fps=cfg.motion.fps), s.path)
        seq.save(path)
        seqs[s.id] = seq
    return seqs


def attempt_sequence(out: str, entry: dict, cfg_dict: dict, retries: int, threads: int = 0) -> SequenceResult:
    """run_sequence with retries; never raises (the result says what went wrong)."""
    if threads:
        set_threads(threads)
    result = SequenceResult(entry["id"], False)
    lost = 0.0  # wall seconds of failed attempts (shown as their own row of the summary)
    for attempt in range(1, retries + 2):
        t0 = time.perf_counter()
        try:
            result = run_sequence(out, entry, cfg_dict, attempt)
            result.attempts = attempt
            if lost:
                result.times["failed attempts"] = lost
            return result
        except Exception as exc:  # noqa: BLE001 - any failure of one sequence is recorded, not fatal
            lost += time.perf_counter() - t0
            result = SequenceResult(
                entry["id"],
                False,
                {"failed attempts": lost},
                attempts=attempt,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            )
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                result.fatal = True
                return result
    return result


def record_failure(out: Path, result: SequenceResult) -> None:
    line = json.dumps(
        {
            "id": result.id,
            "attempts": result.attempts,
            "error": result.error,
            "traceback": result.traceback,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    with open(out / "failures.jsonl", "a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def is_done(out: Path, seq_id: str) -> bool:
    return done_path(out, seq_id).is_file() and sample_tar_path(out, seq_id).is_file()


def load_or_make_plan(out: Path, cfg: PipelineConfig, resume: bool, base_dir: str | None) -> tuple[Plan, float]:
    """The plan of this output directory (new, or the existing one when resuming); MoSh time."""
    plan_file = out / "plan.json"
    t0 = time.perf_counter()
    if plan_file.is_file():
        plan = Plan.from_dict(json.loads(plan_file.read_text()))
        if not resume:
            raise SynthError(
                "this folder already holds a generated dataset",
                path=out,
                fix="add --resume to finish or reuse it, or choose a new --out folder",
            )
        if (plan.config_digest, plan.n_seq, plan.seed) != (cfg.digest(), cfg.n_seq, cfg.seed):
            raise SynthError(
                f"--resume with different settings (plan: n_seq={plan.n_seq}, seed={plan.seed}, config "
                f"{plan.config_digest}; now n_seq={cfg.n_seq}, seed={cfg.seed}, config {cfg.digest()})",
                path=plan_file,
                fix="resume with the original --config/--n-seq/--seed, or generate into a new --out folder",
            )
        prepare_sources(out, plan.sources, cfg)  # re-creates any missing source file
        return plan, time.perf_counter() - t0
    sources = resolve_sources(cfg, base_dir)
    seqs = prepare_sources(out, sources, cfg)
    plan = make_plan(cfg, sources, seqs)
    with atomic_path(out / "config.yaml") as tmp:
        tmp.write_text(config_to_yaml(cfg))
    save_json_atomic(plan_file, plan.to_dict())
    return plan, time.perf_counter() - t0


def ray_init_options(ray_address: str, cfg: PipelineConfig) -> dict:
    """ray.init keywords. A local cluster ('local') gets this machine's cores, no dashboard (its web
    server and agent processes are most of a local start-up on a small machine) and no runtime_env
    upload: workers are local processes that inherit this environment (PYTHONPATH, SYNTH_*), so
    nothing needs packaging. A remote cluster's nodes must have the project installed and see --out."""
    opts: dict = {"ignore_reinit_error": True, "log_to_driver": False}
    if ray_address == "local":
        opts |= {"address": None, "num_cpus": os.cpu_count() or 1, "include_dashboard": False}
        if cfg.run.gpus:
            opts["num_gpus"] = len(cfg.run.gpus)
    else:
        opts["address"] = ray_address
        env = {k: v for k, v in os.environ.items() if k.startswith("SYNTH_")}
        if env:  # cache, assets and model locations travel as variables, never as uploaded files
            opts["runtime_env"] = {"env_vars": env}
    return opts


def _worker_init(threads: int, parent_pid: int, gpus: list | None = None, counter=None) -> None:
    """A pool worker dies with the run (SIGKILL of `synth generate` included), pins its threads and,
    as the k-th worker process, takes its GPU (gpus[k % len])."""
    from synth.process import die_with_parent

    die_with_parent(parent_pid)
    if gpus and counter is not None:
        with counter.get_lock():
            k = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus[k % len(gpus)])
    set_threads(threads)


def _run_tasks(out: Path, cfg: PipelineConfig, todo: list, ray_address: str | None, on_result) -> None:
    """Execute `todo` plan entries, calling on_result(SequenceResult) as each finishes."""
    workers = max(1, int(cfg.run.workers))
    threads = cfg.run.threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
    cfg_dict = cfg.to_dict()
    entries = [asdict(s) for s in todo]
    if ray_address:
        import ray

        ray.init(**ray_init_options(ray_address, cfg))
        remote = ray.remote(num_cpus=threads, num_gpus=float(cfg.run.ray_gpus_per_task))(attempt_sequence)
        pending = [remote.remote(str(out), e, cfg_dict, cfg.run.retries, threads) for e in entries]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            on_result(ray.get(ready[0]))
        return
    if workers == 1:
        if cfg.run.gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(cfg.run.gpus[0])
        set_threads(threads)
        for e in entries:
            check_disk(out, cfg.run.min_free_gb)
            on_result(attempt_sequence(str(out), e, cfg_dict, cfg.run.retries))
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        workers,
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(threads, os.getpid(), list(cfg.run.gpus), ctx.Value("i", 0)),
    ) as pool:
        queue = list(entries)
        running = set()
        try:
            while queue or running:
                while queue and len(running) < workers:
                    check_disk(out, cfg.run.min_free_gb)
                    running.add(pool.submit(attempt_sequence, str(out), queue.pop(0), cfg_dict, cfg.run.retries))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    on_result(f.result())
        except BaseException:
            for f in running:
                f.cancel()
            raise


def generate(
    out: str | Path,
    cfg: PipelineConfig,
    resume: bool = False,
    ray_address: str | None = None,
    base_dir: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Plan (or resume) and run a dataset into `out` (locked for the run: one run per folder);
    returns the run's summary."""
    validate_config(cfg)  # a loaded config was checked with its file named; this covers one built in code
    out = prepare_out(out)
    with output_lock(out):
        return _generate(out, cfg, resume, ray_address, base_dir, progress)


def prepare_out(out: str | Path) -> Path:
    """The output folder, created; a SynthError (not a traceback) when that cannot work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthError("--out is an existing file, not a folder", path=out, fix="choose a folder for --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError) as exc:
        raise SynthError(
            "a parent of --out is a file", path=out, fix="choose an --out folder whose parents are folders"
        ) from exc
    except OSError as exc:
        raise SynthError(
            f"cannot create the output folder ({exc.strerror})", path=out, fix="choose an --out folder you can write to"
        ) from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise SynthError("the output folder is not writable", path=out, fix="choose an --out folder you can write to")
    return out


def _generate(
    out: Path, cfg: PipelineConfig, resume: bool, ray_address: str | None, base_dir: str | None, progress: bool
) -> RunSummary:
    from tqdm import tqdm

    t_start = time.perf_counter()
    check_disk(out, cfg.run.min_free_gb)
    check_assets_and_settings(cfg)
    plan, t_mosh = load_or_make_plan(out, cfg, resume, base_dir)
    shutil.rmtree(work_dir(out) / "tmp", ignore_errors=True)  # jobs of killed attempts
    summary = RunSummary(str(out), planned=len(plan.sequences))
    summary.times = {"plan": t_mosh} | {s: 0.0 for s in STAGES}
    todo = [s for s in plan.sequences if not is_done(out, s.id)]
    summary.skipped = len(plan.sequences) - len(todo)
    bar = tqdm(total=len(todo), desc="sequences", unit="seq", disable=not progress, dynamic_ncols=True)

    def on_result(r: SequenceResult) -> None:
        if r.fatal:
            raise SynthError(f"stopped: {r.error}", path=out, fix="free disk space, then re-run with --resume")
        for k, v in r.times.items():
            summary.times[k] = summary.times.get(k, 0.0) + v
        if r.ok:
            summary.done += 1
            summary.frames += r.frames
        else:
            summary.failed.append({"id": r.id, "error": r.error})
            record_failure(out, r)
            tqdm.write(f"{r.id} failed after {r.attempts} attempt(s): {r.error}")
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed))

    try:
        _run_tasks(out, cfg, todo, ray_address, on_result)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise SynthError(
                f"stopped: disk full ({exc})", path=out, fix="free disk space, then re-run with --resume"
            ) from exc
        raise
    finally:
        bar.close()
    t0 = time.perf_counter()
    infos = finalize(out, plan, cfg)
    summary.times["pack"] = time.perf_counter() - t0
    summary.shards = [asdict(i) for i in infos]
    summary.samples = sum(i.samples for i in infos)
    summary.wall_s = time.perf_counter() - t_start
    save_json_atomic(out / "summary.json", asdict(summary))
    return summary


def finalize(out: Path, plan: Plan | None = None, cfg: PipelineConfig | None = None) -> list:
    """Pack the finished sequences into shards and write the dataset card (`synth shard`)."""
    from synth.shards.card import write_dataset_card
    from synth.shards.writer import pack_shards

    out = Path(out)
    if plan is None:
        if not (out / "plan.json").is_file():
            raise SynthError("no plan.json here", path=out, fix="run `synth generate --out DIR` first")
        plan = Plan.from_dict(json.loads((out / "plan.json").read_text()))
    if cfg is None:
        from synth.pipeline.config import load_config

        cfg = load_config(out / "config.yaml") if (out / "config.yaml").is_file() else config_from_dict({})
    finished = [(s.id, s.split, sample_tar_path(out, s.id)) for s in plan.sequences if is_done(out, s.id)]
    infos = pack_shards(out, finished, cfg.shards.samples_per_shard, int(cfg.shards.max_shard_mb * 2**20))
    missing = [s.id for s in plan.sequences if not is_done(out, s.id)]
    write_dataset_card(out, plan, cfg, infos, missing, source_repairs(out, plan.sources))
    return infos


def source_repairs(out: Path, sources: list[Source]) -> dict[str, list[list[int]]]:
    """Per source with repaired mocap glitches, its repaired [start, stop) frame ranges."""
    from synth.mosh.glitches import frame_ranges
    from synth.sequence import MoshedSequence

    out_ = {}
    for s in sources:
        path = source_path(out, s.id)
        if path.is_file():
            ranges = frame_ranges(MoshedSequence.load(path).repaired)
            if ranges:
                out_[s.id] = ranges
    return out_


def summary_table(summary: RunSummary) -> str:
    """The closing table: sequences, frames, time per stage, failures."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"synth generate: {summary.out}")
    t.add_column("stage")
    t.add_column("total s", justify="right")
    t.add_column("s / sequence", justify="right")
    t.add_column("share", justify="right")
    n = max(1, summary.done)
    work = sum(summary.times.values()) or 1.0
    for k, v in summary.times.items():
        per = "-" if k in ("plan", "pack", "failed attempts") else f"{v / n:.2f}"  # once per run, or not per output
        t.add_row(k, f"{v:.1f}", per, f"{100 * v / work:.0f}%")
    buf = StringIO()
    console = Console(file=buf, width=100, force_terminal=False)
    console.print(t)
    frames_per_seq = summary.frames / n if summary.done else 0
    console.print(
        f"sequences: {summary.done} generated, {summary.skipped} already done, {len(summary.failed)} failed "
        f"(of {summary.planned}); frames: {summary.frames} per camera ({frames_per_seq:.0f}/sequence); "
        f"samples in shards: {summary.samples}; wall {summary.wall_s:.1f} s"
    )
    for f in summary.failed:
        console.print(f"  failed {f['id']}: {f['error']}  (details in failures.jsonl)")
    return buf.getvalue()
