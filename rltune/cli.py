"""rltune's command line: thin Typer commands over the core functions.

Each command parses its options, calls one plain function that returns data,
and reports it with rich. TensorFlow is imported inside the commands only, so
``rltune --help`` stays fast.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from rltune.cli_config import config_options
from rltune.config import TrainConfig

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tune Magenta melody RNNs with reinforcement learning (RL Tuner, Jaques et al. 2016).")
console = Console()
err = Console(stderr=True)


def handle_errors(fn):
    """User errors end with one red line and exit 1; Ctrl-C with exit 130; rltune's
    warnings print as one yellow line each, every time they occur."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import warnings
        from rltune.errors import RLTuneError, RLTuneWarning
        with warnings.catch_warnings():
            warnings.simplefilter("always", RLTuneWarning)
            shown = warnings.showwarning

            def show(message, category, *rest, **kw):
                if issubclass(category, RLTuneWarning):
                    _warn([str(message)])
                else:
                    shown(message, category, *rest, **kw)
            warnings.showwarning = show
            try:
                return fn(*args, **kwargs)
            except RLTuneError as e:
                err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
                raise typer.Exit(1)
            except KeyboardInterrupt:
                err.print("[yellow]interrupted[/]")
                raise typer.Exit(130)
    return wrapper


def _model_path(bundle: Optional[Path], checkpoint: Optional[Path]) -> Optional[Path]:
    from rltune.errors import RLTuneError
    if bundle and checkpoint:
        raise RLTuneError("give either --bundle or --checkpoint, not both")
    return bundle or checkpoint


def _warn(messages):
    for m in messages:
        err.print(f"[yellow]warning:[/] {m}", highlight=False, soft_wrap=True)


@app.command("unpack-bundle")
@handle_errors
def unpack_bundle_cmd(
    bundle: Path = typer.Argument(..., help="A Magenta .mag bundle (generator id basic_rnn)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Folder to write model.ckpt, model.ckpt.meta and bundle.json to."),
    info: bool = typer.Option(False, "--info", help="Print what the bundle holds; write nothing."),
):
    """Unpack a Magenta .mag bundle into a TensorFlow checkpoint, metagraph and bundle.json."""
    from rltune.checkpoint import bundle_info, unpack_bundle
    from rltune.errors import RLTuneError
    if not info and output is None:
        raise RLTuneError("give -o DIR to unpack, or --info to inspect")
    data = bundle_info(bundle) if info else unpack_bundle(bundle, output)
    table = Table(title=f"{bundle.name}", show_header=False)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    arch = data["architecture"]
    for k, v in [("generator id", data["generator_id"]), ("generator description", data["generator_description"]),
                 ("bundle description", data["bundle_description"]), ("variable layout", data["layout"]),
                 ("cell", arch["cell"]), ("layer sizes", str(arch["layer_sizes"])),
                 ("input size", str(arch["input_size"])), ("classes", str(arch["num_classes"])),
                 *([("attention", arch["attention"])] if "attention" in arch else []),
                 *[(f"  {n}", str(s)) for n, s in data["variables"].items()]]:
        table.add_row(k, v)
    console.print(table)
    if not info:
        console.print(f"wrote {', '.join(data['files'])} to [bold]{output}[/]")


@app.command()
@handle_errors
def generate(
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="A .mag bundle (default: the shipped Note RNN)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="A Magenta/RL Tuner checkpoint prefix or folder, or an rltune run."),
    output: Path = typer.Option(Path("generated"), "-o", "--output", help="Folder for the .mid and .pb files."),
    num_outputs: int = typer.Option(10, "--num-outputs", help="How many melodies."),
    num_steps: int = typer.Option(128, "--num-steps", help="Length of each melody in 16th-note steps, primer included."),
    primer: Optional[str] = typer.Option(None, "--primer", help='Prime with a MIDI file or a melody in Magenta syntax, e.g. "[60, -2, 62, -1]".'),
    primer_midi: Optional[Path] = typer.Option(None, "--primer-midi", help="Prime with the melody of a MIDI file."),
    primer_melody: Optional[str] = typer.Option(None, "--primer-melody", help='Prime with a melody in Magenta syntax, e.g. "[60, -2, 62, -1]".'),
    temperature: float = typer.Option(1.0, "--temperature", help="Softmax temperature (higher = more random)."),
    qpm: float = typer.Option(120.0, "--qpm", help="Tempo of the written files, quarter notes per minute."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes the same melodies."),
    plot_probs: bool = typer.Option(False, "--plot-probs", help="Also write a PNG heat map of the note probabilities."),
):
    """Generate melodies (MIDI + NoteSequence) from a Note RNN or a tuned run."""
    from rltune.errors import RLTuneError
    from rltune.generation import generate as run
    if primer is not None:
        from rltune.priming import parse_primer
        if primer_midi or primer_melody:
            raise RLTuneError("give --primer, or --primer-midi / --primer-melody, not both")
        kind, value = parse_primer(primer)
        primer_midi, primer_melody = (value, None) if kind == "midi" else (None, value)
    result = run(_model_path(bundle, checkpoint), output, num_outputs=num_outputs, num_steps=num_steps,
                 temperature=temperature, qpm=qpm, seed=seed, primer_midi=primer_midi,
                 primer_melody=primer_melody, plot_probs=plot_probs)
    _warn(result["warnings"])
    console.print(f"wrote {num_outputs} melodies of {num_steps} steps from [bold]{result['model']}[/] "
                  f"to [bold]{output}[/] ({len(result['files'])} files)")


@app.command()
@handle_errors
def pretrain(
    inputs: List[Path] = typer.Argument(None, help="Folders or files of MIDI, MusicXML, ABC or NoteSequence TFRecords."),
    output: Path = typer.Option(..., "-o", "--output", help="The bundle to write (MODEL.mag)."),
    layers: str = typer.Option("100", "--layers", help="LSTM layer sizes, e.g. 100 or 128,128."),
    batch_size: int = typer.Option(64, "--batch-size", help="Melodies per batch."),
    steps: int = typer.Option(3000, "--steps", help="Training steps."),
    learning_rate: float = typer.Option(1e-3, "--learning-rate", help="Adam learning rate."),
    dropout: float = typer.Option(0.0, "--dropout", help="Dropout rate on LSTM outputs while training."),
    eval_ratio: float = typer.Option(0.1, "--eval-ratio", help="Fraction of input sequences held out."),
    eval_every: int = typer.Option(250, "--eval-every", help="Steps between held-out evaluations."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the work folder's last checkpoint."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output bundle."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Dataset cache, checkpoints and TensorBoard logs (default: MODEL.pretrain/ beside the output)."),
):
    """Train a Note RNN on your melodies and write a bundle both rltune and Magenta load."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rltune.config import PretrainConfig, parse_layers
    from rltune.pretraining import pretrain as run

    cfg = PretrainConfig(layers=parse_layers(layers), batch_size=batch_size, steps=steps, learning_rate=learning_rate,
                         dropout=dropout, eval_ratio=eval_ratio, eval_every=eval_every, seed=seed).validate()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        tasks = {}

        def report(kind, **kw):
            if kind == "dataset_start":
                tasks["data"] = bar.add_task("reading music", total=kw["files"], info="")
            elif kind == "file_done":
                bar.advance(tasks["data"])
            elif kind == "dataset":
                _dataset_table(kw["summary"])
            elif kind == "train_start":
                tasks["train"] = bar.add_task("training", total=kw["steps"], completed=kw["step"], info="")
            elif kind == "step":
                bar.update(tasks["train"], completed=kw["step"],
                           info=f"loss {kw['loss']:.3f}  acc {kw['accuracy']:.3f}  ppl {kw['perplexity']:.2f}")
            elif kind == "eval":
                console.print(f"step {kw['step']}: held-out log-perplexity {kw['log_perplexity']:.4f}, "
                                  f"accuracy {kw['accuracy']:.4f} ({kw['events']} events)")
            elif kind == "interrupted":
                bar.console.print(f"[yellow]interrupted at step {kw['step']}: saving what was trained[/]")

        result = run(inputs or [], output, cfg, resume=resume, force=force, work_dir=work_dir, reporter=report)
    console.print(f"wrote [bold]{result.output}[/]: {result.steps} steps, held-out log-perplexity "
                  f"{result.eval['log_perplexity']:.4f}, accuracy {result.eval['accuracy']:.4f}, "
                  f"{result.train_events_per_s:,.0f} training events/s")
    if result.interrupted:
        raise typer.Exit(130)


def _dataset_table(summary: dict):
    table = Table(title="Dataset")
    table.add_column("")
    table.add_column("count", justify="right")
    for k, v in summary.items():
        table.add_row(k.replace("_", " "), f"{v:,}")
    err.print(table)


@app.command()
@handle_errors
def evaluate(
    models: List[str] = typer.Argument(None, help="Models (.mag bundles, checkpoints, rltune runs; default: the shipped Note RNN) or compositions: NoteSequence TFRecords (what export --compositions writes), MIDI files or folders. One column each."),
    num_compositions: int = typer.Option(100_000, "--num-compositions", "-n", help="Compositions sampled per model (the paper: 100,000)."),
    length: int = typer.Option(32, "--length", help="Steps per composition (and per window of given melodies)."),
    key: Optional[str] = typer.Option(None, "--key", help="Key of the statistics (default: a run's own key, else C major, the paper's)."),
    rules: Optional[str] = typer.Option(None, "--rules", help="paper (the original's index quirk) or corrected (default: a run's own rules, else paper)."),
    greedy: bool = typer.Option(False, "--greedy", help="Pick the argmax instead of sampling."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    primer: Optional[str] = typer.Option(None, "--primer", help='Prime every composition with a MIDI file or a melody such as "[60, -2, 62]" (default: as the model was trained: a run\'s own priming, else one random note).'),
    priming: Optional[str] = typer.Option(None, "--priming", help="random-note or midi (with --primer-midi); --primer is the short form."),
    primer_midi: Optional[Path] = typer.Option(None, "--primer-midi", help="MIDI primer for --priming midi."),
    midi: List[Path] = typer.Option([], "--midi", help="Also evaluate the melodies of this MIDI folder (the same as giving it as an input)."),
    reward_model: Optional[Path] = typer.Option(None, "--reward-model", help="Score log p(a|s) with this Note RNN (default: a run's own Reward RNN, the one an exported bundle carries, else the model itself)."),
    step: Optional[int] = typer.Option(None, "--step", help="For runs: evaluate the checkpoint at this step (default: the newest)."),
    require: List[str] = typer.Option([], "--require", help='A condition every column must meet, e.g. "notes_not_in_key<=0.01" (rows as in --json, fractions; repeatable). Exit status 1 when any fails.'),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write the numbers (fractions) as JSON to this file; - writes them to standard output (the table then goes to standard error)."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write the numbers as CSV."),
):
    """Print the paper's music-theory table for models and compositions, side by side (gates for CI with --require)."""
    from rltune.errors import RLTuneError
    from rltune.evaluation import check_requirements, evaluate_melodies, parse_requirement, write_csv, write_json

    _check_key_and_rules(key, rules)
    requirements = [parse_requirement(r) for r in require]
    if num_compositions <= 0:
        raise RLTuneError(f"--num-compositions must be positive, got {num_compositions}")
    priming, primer_midi, primer_melody = _priming_options(primer, priming, primer_midi)
    results = _evaluate_targets(list(models or ([] if midi else [None])), step, reward_model, num_compositions,
                                dict(length=length, key=key, rules=rules, greedy=greedy, seed=seed, priming=priming,
                                     primer_midi=primer_midi, primer_melody=primer_melody, reward_model=reward_model))
    for folder in midi:
        results.append(evaluate_melodies(folder, length=length, key=key or "C", rules=rules or "paper",
                                         reward_model=reward_model))
    checks = check_requirements(results, requirements)
    _results_table(results, checks, out=err if json_out == "-" else console)
    if json_out:
        write_json(results, json_out)
    if csv_out:
        write_csv(results, csv_out)
    failed = [c for c in checks if not c["passed"]]
    if failed:
        err.print("[bold red]failed:[/] " + "; ".join(
            f"{c['model']}: {c['row']} = {_fmt(c['value'])} (required {c['op']} {c['limit']:g})" for c in failed),
            highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _check_key_and_rules(key, rules):
    """One line for a bad --key or --rules before any work (None: each run's own)."""
    from rltune.keys import Key
    from rltune.rules import rule_indices
    if key is not None:
        Key.parse(key)
    if rules is not None:
        rule_indices(rules)


def _evaluate_targets(targets, step, reward_model, num_compositions, options) -> list:
    """``evaluate_input`` for each target, with a progress bar per target on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rltune.evaluation import evaluate_input
    from rltune.loading import load_policy
    results = []
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        for m in targets:
            task = bar.add_task(str(m or "default bundle"), total=num_compositions)
            model = load_policy(m, step=step, reward_model=reward_model) if step is not None else m
            results.append(evaluate_input(model, num_compositions=num_compositions, **options,
                                          progress=lambda n, task=task: bar.advance(task, n)))
    return results


def _fmt(v) -> str:
    return "n/a" if v is None or v != v else f"{v:.6g}"


def _priming_options(primer, priming, primer_midi):
    """(priming, primer_midi, primer_melody) from --primer or --priming/--primer-midi."""
    from rltune.errors import RLTuneError
    from rltune.priming import parse_primer
    if primer is not None:
        if priming or primer_midi:
            raise RLTuneError("give --primer, or --priming with --primer-midi, not both")
        kind, value = parse_primer(primer)
        return kind, (value if kind == "midi" else None), (value if kind == "melody" else "")
    if priming not in (None, "random-note", "midi"):
        raise RLTuneError("--priming must be random-note or midi")
    if priming == "midi" and not primer_midi:
        raise RLTuneError("--priming midi needs --primer-midi")
    return priming, primer_midi, ""


def _results_table(results, checks=(), out=None):
    from rltune.evaluation import table_cell
    from rltune.metrics import TABLE_ROWS
    keys, rules = {r["key"] for r in results}, {r["rules"] for r in results}
    table = Table(title=f"Music-theory statistics (key {'/'.join(sorted(keys))}, rules {'/'.join(sorted(rules))})")
    table.add_column("")
    for r in results:
        table.add_column(r["name"], justify="right", overflow="fold")
    verdicts = {(c["model"], c["row"]): c for c in checks}
    for k, label in TABLE_ROWS:
        cells = []
        for r in results:
            cell = table_cell(r, k)
            c = verdicts.get((r["name"], k))
            if c:
                cell += " [green]pass[/]" if c["passed"] else f" [bold red]FAIL[/] ({c['op']} {c['limit']:g})"
            cells.append(cell)
        required = any(row == k for _, row in verdicts)
        table.add_row(f"[bold]{label}[/]" if required else label, *cells)
    table.add_row("Compositions", *[f"{r['num_compositions']:,}" for r in results])
    table.add_row("Seconds", *[f"{r['seconds']:.1f}" for r in results])
    (out or console).print(table)


class _RichTraining:
    """Training progress on a rich bar; evaluations printed as they come (a training Callback)."""

    def __init__(self, bar, task):
        self.bar, self.task = bar, task

    def on_start(self, step, total):
        self.bar.update(self.task, total=total, completed=step)

    def on_batch(self, step, total, loss, epsilon, reward, steps_per_s):
        self.bar.update(self.task, total=total, completed=step,
                        info=f"{steps_per_s:,.0f} steps/s  reward {reward:.1f}  loss {loss:.3g}  eps {epsilon:.2f}")

    def on_evaluation(self, point):
        console.print(f"step {point['step']:,}: mean log p per composition {point['mean_log_p']:.2f}, "
                               f"music-theory reward {point['mean_music_theory_reward']:.2f}")

    def on_interrupt(self, step):
        self.bar.console.print(f"[yellow]interrupted at step {step:,}: saving a checkpoint and the figures[/]")


def _trained(summary) -> str:
    """How much a run trained, and how fast (over all its segments when resumed)."""
    seg = summary["this_segment"]
    if len(summary["segments"]) == 1:
        return f"{summary['env_steps']:,} steps in {seg['seconds']:.0f} s ({seg['env_steps_per_s']:,.0f} steps/s)"
    return (f"{summary['env_steps']:,} steps in {summary['train_seconds']:.0f} s over {len(summary['segments'])} "
            f"segments; this one {seg['end_step'] - seg['start_step']:,} steps at {seg['env_steps_per_s']:,.0f} steps/s")


def _train_settings(config_file, settings):
    """The settings given: a --config file, then the options; --rule-weight adds to the weights
    the defaults, the preset or the file would give."""
    from rltune.config import TrainConfig, load_toml
    given = dict(load_toml(TrainConfig, config_file)) if config_file else {}
    if "rule_weights" in settings:
        base = TrainConfig.from_settings({**given, "preset": settings.get("preset", given.get("preset", ""))}).rule_weights
        settings = {**settings, "rule_weights": {**base, **settings["rule_weights"]}}
    given.update(settings)
    return given


@app.command()
@handle_errors
@config_options(TrainConfig)
def train(
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Note RNN bundle to tune (default: the shipped one)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Or a Magenta/RL Tuner Note RNN checkpoint."),
    output: Path = typer.Option(Path("runs/rltune"), "-o", "--output", help="Run folder."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML file of settings (options given here win)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its newest readable checkpoint; only --steps, --time-limit, --eval-every, --eval-compositions, --checkpoint-every and --num-samples may change."),
    step: Optional[int] = typer.Option(None, "--step", help="With --resume: continue from the checkpoint at this step."),
    force: bool = typer.Option(False, "--force", help="Replace a run already in --output."),
    evaluate_after: int = typer.Option(0, "--evaluate", help="Afterwards, print the paper's table for the Note RNN and the tuned model over this many compositions each."),
    primer: Optional[str] = typer.Option(None, "--primer", help='Prime every composition with a MIDI file or a melody such as "[60, -2, 62]" (sets --priming midi or melody).'),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved settings (defaults, --preset, --config, options) as TOML and exit."),
    settings: dict = None,
):
    """Tune a Note RNN with RL Tuner (Q, Psi, G or RL-only) and write a run folder."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rltune.config import TrainConfig
    from rltune.errors import RLTuneError
    from rltune import training

    given = _train_settings(config_file, settings)
    if primer is not None:
        from rltune.priming import parse_primer
        kind, value = parse_primer(primer)
        given.update(priming=kind, **{f"primer_{kind}": value})
    model = _model_path(bundle, checkpoint)
    if step is not None and not resume:
        raise RLTuneError("--step goes with --resume (export and evaluate take --step too)")
    if dry_run and resume:
        raise RLTuneError("--dry-run shows a new run's settings; a resumed run's are in its config.toml")
    if not resume:
        cfg = TrainConfig.from_settings(given).validate()
        if dry_run:
            from rltune.config import to_toml
            print(to_toml(cfg.to_dict()), end="")
            return
    with Progress(TextColumn("[bold]training[/]"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} steps"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        callback = _RichTraining(bar, bar.add_task("train", total=None, info=""))
        if resume:
            summary = training.resume(output, given, step=step, model=model, callback=callback)
        else:
            summary = training.train(model, output, cfg, force=force, callback=callback)
    if summary["already_done"]:
        console.print(f"run [bold]{output}[/] already has {summary['env_steps']:,} steps (--steps {summary['steps']:,}); "
                      "nothing to train")
        return
    console.print(f"run [bold]{output}[/]: {_trained(summary)}, {summary['updates']:,} updates")
    if evaluate_after > 0:
        from rltune.evaluation import evaluate_model
        cfg = TrainConfig(**summary["config"])
        results = [evaluate_model(summary["model"], num_compositions=evaluate_after, key=cfg.key, rules=cfg.rules,
                                  name="Note RNN", seed=cfg.seed),
                   evaluate_model(output, num_compositions=evaluate_after, key=cfg.key, rules=cfg.rules,
                                  name=f"{cfg.algo} (rltune)", seed=cfg.seed)]
        _results_table(results)
    if summary["interrupted"]:
        raise typer.Exit(130)


@app.command()
@handle_errors
def export(
    source: Path = typer.Argument(..., help="An rltune training run, or any Note RNN (bundle or checkpoint)."),
    output: Path = typer.Option(..., "-o", "--output", help="tuned.mag, FILE.tfrecord (note-sequences) or a folder (midi)."),
    step: Optional[int] = typer.Option(None, "--step", help="Export the run's checkpoint at this step (default: the last)."),
    compositions: int = typer.Option(0, "--compositions", help="Export this many sampled compositions instead of a bundle."),
    fmt: str = typer.Option("note-sequences", "--format", help="For --compositions: note-sequences (TFRecord) or midi."),
    qpm: float = typer.Option(120.0, "--qpm", help="Tempo recorded in exported compositions."),
    seed: int = typer.Option(0, "--seed", help="Random seed for --compositions."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
):
    """Export a tuned model as a Magenta bundle, or its compositions as NoteSequences/MIDI."""
    from rltune.export import export_bundle, export_compositions
    if compositions:
        r = export_compositions(source, output, num=compositions, fmt=fmt, step=step, qpm=qpm, seed=seed, force=force)
        console.print(f"wrote {r['compositions']:,} compositions ({r['format']}, key {r['key']}, {r['qpm']:g} qpm) to [bold]{output}[/]")
    else:
        r = export_bundle(source, output, step=step, force=force)
        console.print(f"wrote [bold]{output}[/]: {r['description']}")


@app.command()
@handle_errors
def report(
    inputs: List[str] = typer.Argument(None, help="Models (bundles, checkpoints, runs; default: the shipped Note RNN) or compositions (NoteSequence TFRecords, MIDI files or folders)."),
    output: Path = typer.Option(..., "-o", "--output", help="The HTML file to write (its folder must exist)."),
    num_compositions: int = typer.Option(10_000, "--num-compositions", "-n", help="Compositions per model for the table."),
    samples: int = typer.Option(8, "--samples", help="Compositions to show and play per input."),
    length: int = typer.Option(32, "--length", help="Steps per composition (16th notes)."),
    key: Optional[str] = typer.Option(None, "--key", help="Key of the statistics and of the piano rolls' colours (default: a run's own, else C)."),
    rules: Optional[str] = typer.Option(None, "--rules", help="paper (the original's index quirk) or corrected (default: a run's own, else paper)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same primers for every model)."),
    soundfont: Optional[Path] = typer.Option(None, "--soundfont", help="A General MIDI SoundFont for FluidSynth (default: the system's, else the built-in synth)."),
    qpm: float = typer.Option(120.0, "--qpm", help="Tempo of the audio, quarter notes per minute."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing report."),
):
    """Write a self-contained HTML report to hear and compare models: table, curves, piano rolls and audio."""
    import contextlib
    from rltune.report import build_report
    _check_key_and_rules(key, rules)
    with err.status("evaluating and rendering", spinner="dots") if err.is_terminal else contextlib.nullcontext():
        r = build_report(inputs or None, output, num_compositions=num_compositions, length=length, key=key, rules=rules,
                         seed=seed, samples=samples, soundfont=soundfont, qpm=qpm, force=force)
    console.print(f"wrote [bold]{output}[/] ({r['bytes'] / 1e6:.1f} MB; {len(r['models'])} input(s) x {samples} samples; "
                  f"audio: {r['renderer']}; {r['seconds']:.1f} s)")


@app.command()
@handle_errors
def sweep(
    spec: Path = typer.Argument(..., help="The sweep spec (TOML: model, compositions, cpus_per_trial, [base], [grid], [random])."),
    output: Path = typer.Option(..., "-o", "--output", help="The sweep folder (trials/, results/, results.csv, results.json, frontier.png)."),
    address: Optional[str] = typer.Option(None, "--address", help="A Ray cluster: auto, or ray://HOST:PORT (default: an embedded local Ray)."),
):
    """Run a sweep of training runs on Ray Tune and draw the log p / music-theory frontier."""
    from rltune.sweep import run_sweep
    console.print(f"sweep [bold]{spec}[/] into [bold]{output}[/] (trials already finished are kept)")

    def progress(kind, trial, done, total, **kw):
        if kind == "finished":
            console.print(f"[{done}/{total}] {trial}: mean log p per note {kw['mean_log_p']:.3f}, "
                          f"music-theory reward {kw['mean_music_theory_reward']:.1f}", highlight=False)
        elif kind == "failed":
            console.print(f"[{done}/{total}] {trial}: [red]failed[/]", highlight=False)
    r = run_sweep(spec, output, address=address, progress=progress)
    for trial, message in r["failed"].items():
        err.print(f"[bold red]trial {trial} failed:[/] {message}", highlight=False, soft_wrap=True)
    table = Table(title=f"Pareto front of {r['finished']} finished trials (of {r['total']}): log p against music-theory reward")
    for col in ("trial", "mean log p / note", "r_MT / composition", "note length", "tonic start", "leaps resolved", "not in key"):
        table.add_column(col, justify="left" if col == "trial" else "right", overflow="fold", min_width=28 if col == "trial" else None)
    for name, row in [("Note RNN", r["note_rnn"]["rows"])] + [(t["id"], t) for t in r["front"]]:
        table.add_row(name, f"{row['mean_log_p']:.3f}", f"{row['mean_music_theory_reward']:.1f}", f"{row['mean_note_length']:.2f}",
                      f"{100 * row['starting_with_tonic']:.1f}%", f"{100 * row['leaps_resolved']:.1f}%",
                      f"{100 * row['notes_not_in_key']:.2f}%")
    console.print(table)
    if r["finished"]:
        console.print(f"wrote {output}/results.csv, results.json and frontier.png")
    if r["interrupted"]:
        raise typer.Exit(130)
    if r["failed"]:
        raise typer.Exit(1)


def main():
    app()


if __name__ == "__main__":
    main()
