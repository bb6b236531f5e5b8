"""`python -m xaibench.report PATH... [--out DIR]`: a leaderboard report over runs and sweeps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xaibench.registry import XaibenchError
from xaibench.report.load import find_run_folders
from xaibench.report.settings import ACROSS_MODELS, ReportSettings


def parse(argv: list[str]) -> argparse.Namespace:
    defaults = ReportSettings()
    parser = argparse.ArgumentParser(
        prog="python -m xaibench.report",
        description="Leaderboard, confidence intervals, significance tests, figures and an "
        "HTML page from run folders and sweep folders (searched recursively).",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument(
        "--out", type=Path, help="report folder (default: PATH/report for a single PATH)"
    )
    parser.add_argument("--confidence", type=float, default=defaults.confidence)
    parser.add_argument("--resamples", type=int, default=defaults.resamples,
                        help="bootstrap resamples")  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed, help="bootstrap seed")
    parser.add_argument("--alpha", type=float, default=defaults.alpha, help="significance level")
    parser.add_argument("--control", default=defaults.control, help="the control method")
    parser.add_argument(
        "--across-models", choices=ACROSS_MODELS, default=defaults.across_models,
        help="interval over several model seeds: t over model means, or two-stage bootstrap",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        if args.out is None and len(args.paths) > 1:
            raise XaibenchError("several PATHs: choose the report folder with --out DIR")
        if not 0 < args.confidence < 1 or not 0 < args.alpha < 1 or args.resamples < 100:
            raise XaibenchError(
                "--confidence and --alpha must lie in (0, 1) and --resamples be at least 100"
            )
        find_run_folders(args.paths)  # bad paths fail before the heavy imports
        out = args.out or args.paths[0] / "report"
        from xaibench.report.write import write_report  # heavy imports after the checks

        settings = ReportSettings(
            args.confidence, args.resamples, args.seed, args.alpha, args.control,
            args.across_models,
        )  # fmt: skip

        page = write_report(args.paths, out, settings)
    except XaibenchError as error:
        print(f"xaibench.report: error: {error}", file=sys.stderr)
        sys.exit(2)
    print((out / "leaderboard.md").read_text(encoding="utf-8"))
    print(f"Report: {page}")


if __name__ == "__main__":
    main()
