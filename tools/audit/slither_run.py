#!/usr/bin/env python3
"""Run Slither on gpusettle's contracts through the project's own (offline) compiler.

Why a driver and not the `slither` command line: the only compiler on offline machines is solc-js behind
tools/solc-bin/solc-v<version>, which speaks `--version` and `--standard-json` only. So this script builds
a standard-JSON input from brownie-config.yaml (the same version, remappings, optimizer, viaIR and EVM
version as `brownie compile`), hands it to crytic-compile's SolcStandardJson platform with that wrapper as
the solc executable, and runs every Slither detector on the result, in process.

Only the ASTs are requested from the compiler: Slither analyses the AST, not the bytecode, and skipping
code generation (viaIR) cuts the compile from ~23 s to ~3 s with identical findings. `--full-compile`
asks for bytecode too, as brownie does.

The audit fails (exit 1) when:
  * a high- or medium-impact finding touches the project's own sources (contracts/, interfaces/) and is
    not suppressed in the code by `// slither-disable-next-line <detector> <reason>` on the line above;
  * a slither-disable comment in the project's sources gives no reason, names a detector that does not
    exist, uses the blanket `all`, or no longer suppresses anything;
  * Slither could not build its IR for a function in the project's own sources (it would be unanalysed);
  * slither-check-erc's checks report anything for the token that tools/audit/config.toml does not accept
    with a reason.
Exit 2 means the analysis itself could not run (compiler missing, compile error).

Lows, informationals and optimizations are counted and listed (with --verbose), never fatal.
"""
from __future__ import annotations

import argparse
import collections
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import yaml
from crytic_compile import CryticCompile
from crytic_compile.platform.solc_standard_json import SolcStandardJson
from slither import Slither
from slither.detectors import all_detectors
from slither.detectors.abstract_detector import AbstractDetector

REPO = Path(__file__).resolve().parents[2]  # where the compiler wrapper and this tool live
ROOT = REPO  # the tree analysed (--root; tests point it at a scratch copy)
HERE = Path(__file__).resolve().parent
SEVERITIES = ["High", "Medium", "Low", "Informational", "Optimization"]
FATAL = {"High", "Medium"}
DISABLE_RE = re.compile(r"//\s*slither-disable-(next-line|start|end|line)\b(.*)$")


# ------------------------------------------------------------------------------------------- compile


def load_settings() -> dict[str, Any]:
    with open(ROOT / "brownie-config.yaml", encoding="utf8") as f:
        cfg = yaml.safe_load(f)
    solc = cfg["compiler"]["solc"]
    return {
        "version": str(solc["version"]),
        "evm_version": cfg["compiler"].get("evm_version"),
        "via_ir": bool(solc.get("viaIR", False)),
        "optimizer": solc.get("optimizer", {"enabled": False}),
        "remappings": list(solc.get("remappings", [])),
    }


def project_sources(roots: list[str]) -> list[str]:
    files: list[str] = []
    for r in roots:
        files += sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / r).rglob("*.sol"))
    if not files:
        raise SystemExit(f"audit: no .sol files under {roots}")
    return files


def standard_input(settings: dict[str, Any], sources: list[str], full: bool) -> dict[str, Any]:
    selection: dict[str, Any] = {"": ["ast"]}
    if full:
        selection["*"] = ["abi", "metadata", "devdoc", "userdoc", "evm.bytecode", "evm.deployedBytecode"]
    s: dict[str, Any] = {
        "remappings": settings["remappings"],
        "optimizer": settings["optimizer"],
        "viaIR": settings["via_ir"],
        "outputSelection": {"*": selection},
    }
    if settings["evm_version"]:
        s["evmVersion"] = settings["evm_version"]
    return {"language": "Solidity", "sources": {f: {"urls": [f]} for f in sources}, "settings": s}


def find_solc(version: str, override: str | None) -> str:
    """The compiler brownie uses: an explicit --solc, else $SOLCX_BINARY_PATH/solc-v<version> (what
    tools/select_solc.py chose), else the repo's solc-js wrapper."""
    candidates = [override] if override else []
    if os.environ.get("SOLCX_BINARY_PATH"):
        candidates.append(str(Path(os.environ["SOLCX_BINARY_PATH"]) / f"solc-v{version}"))
    candidates.append(str(Path.home() / ".solcx" / f"solc-v{version}"))  # py-solc-x's native install
    candidates.append(str(REPO / "tools" / "solc-bin" / f"solc-v{version}"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            out = subprocess.run([c, "--version"], capture_output=True, text=True, check=False).stdout
            if f"Version: {version}" in out:
                return c
            print(f"audit: {c} is not solc {version} ({out.strip()[-60:]!r}); skipping it", file=sys.stderr)
    print(f"audit: no solc {version} found (tried {candidates})", file=sys.stderr)
    raise SystemExit(2)


# ------------------------------------------------------------------------------------------- results


def rel(sm: dict[str, Any]) -> str:
    """A source mapping's file, relative to the analysed tree (crytic-compile's is relative to the cwd)."""
    absolute = sm.get("filename_absolute")
    return os.path.relpath(absolute, ROOT) if absolute else sm.get("filename_relative", "")


def location(result: dict[str, Any]) -> str:
    for e in result.get("elements", []):
        sm = e.get("source_mapping") or {}
        if sm.get("lines"):
            return f"{rel(sm)}:{sm['lines'][0]}"
    return "?"


def is_dependency_only(result: dict[str, Any], markers: list[str]) -> bool:
    paths = [rel(e["source_mapping"]) for e in result.get("elements", []) if e.get("source_mapping")]
    return bool(paths) and all(any(m in p for m in markers) for p in paths)


def check_suppressions(sources: list[str], detector_names: set[str]) -> list[str]:
    """Every slither-disable comment in the project's sources must name real detectors and say why."""
    problems = []
    for f in sources:
        for n, line in enumerate((ROOT / f).read_text(encoding="utf8").splitlines(), 1):
            m = DISABLE_RE.search(line)
            if not m:
                continue
            kind, rest = m.group(1), m.group(2).strip()
            names_part = re.match(r"[A-Za-z0-9_,-]*", rest).group(0)  # what Slither itself parses
            names = [d for d in names_part.split(",") if d]
            reason = rest[len(names_part):].strip(" -:—")
            where = f"{f}:{n}"
            if kind == "line":
                problems.append(f"{where}: 'slither-disable-line' is not honoured by Slither; use next-line")
            if not names:
                problems.append(f"{where}: slither-disable-{kind} names no detector")
            if "all" in names:
                problems.append(f"{where}: blanket 'all' suppression; name the detector")
            for d in names:
                if d != "all" and d not in detector_names:
                    problems.append(f"{where}: unknown detector {d!r}")
            if kind != "end" and len(reason) < 10:
                problems.append(f"{where}: suppression without a one-line reason after the detector name")
    return problems


# ------------------------------------------------------------------------------------------- ERC checks


def run_erc_checks(sl: Slither, erc_cfg: dict[str, Any], verbose: bool) -> tuple[list[str], list[str]]:
    """The checks slither-check-erc runs (same functions, same order), on the same compilation."""
    # Importing the CLI module gives the exact tables and extra checks it uses.
    from slither.tools.erc_conformance import __main__ as check_erc_cli
    from slither.utils.erc import ERCS

    logging.getLogger("Slither-conformance").setLevel(logging.INFO if verbose else logging.WARNING)
    accepted: dict[str, str] = erc_cfg.get("accepted", {})
    failures: list[str] = []
    notes: list[str] = []
    name = erc_cfg["contract"]
    contracts = sl.get_contract_from_name(name)
    if len(contracts) != 1:
        return [f"slither-check-erc: contract {name} not found (or ambiguous: {len(contracts)})"], notes
    contract = contracts[0]
    for standard in erc_cfg["standards"]:
        key = standard.upper()
        if key not in ERCS:
            failures.append(f"slither-check-erc {name} --erc {standard}: not supported by this Slither")
            continue
        ret: dict[str, list] = collections.defaultdict(list)
        functions, events = ERCS[key]
        check_erc_cli.generic_erc_checks(contract, functions, events, ret)
        if key in check_erc_cli.ADDITIONAL_CHECKS:
            check_erc_cli.ADDITIONAL_CHECKS[key](contract, ret)
        bad = []
        for kind, items in ret.items():
            for item in items:
                desc = " ".join(item.get("description", "").split())
                fields = item.get("additional_fields", {})
                if kind == "missing_function" and not fields.get("required", True):
                    notes.append(f"{standard}: optional {desc}")
                elif kind in accepted:
                    notes.append(f"{standard}: accepted {kind}: {desc} -- {' '.join(accepted[kind].split())}")
                else:
                    bad.append(f"{standard}: {kind}: {desc}")
        failures += bad
        print(f"slither-check-erc {name} --erc {standard}: {'FAIL' if bad else 'pass'}"
              f" ({sum(len(v) for v in ret.values())} item(s) reported, {len(bad)} not accepted)")
    return failures, notes


# ------------------------------------------------------------------------------------------- main


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="the project tree to analyse (default: this repository)")
    ap.add_argument("--solc", help="compiler executable (default: the one brownie uses, see find_solc)")
    ap.add_argument("--full-compile", action="store_true", help="also generate bytecode (slower, same findings)")
    ap.add_argument("--json", metavar="PATH", help="write every result, suppressions and ERC checks as JSON")
    ap.add_argument("--write-input", metavar="PATH",
                    help="write the standard-JSON input, for the stock slither/slither-check-erc CLIs")
    ap.add_argument("--show-suppressed", action="store_true", help="also list findings suppressed in the code")
    ap.add_argument("--no-erc", action="store_true", help="skip the slither-check-erc checks")
    ap.add_argument("-v", "--verbose", action="store_true", help="list low/informational/optimization findings")
    args = ap.parse_args(argv)
    global ROOT
    if args.root:
        ROOT = Path(args.root).resolve()

    t0 = time.monotonic()
    cfg = tomllib.loads((HERE / "config.toml").read_text(encoding="utf8"))
    markers = cfg["sources"]["dependency_markers"]
    settings = load_settings()
    sources = project_sources(cfg["sources"]["roots"])
    solc = find_solc(settings["version"], args.solc)
    solc_input = standard_input(settings, sources, args.full_compile)
    if args.write_input:
        Path(args.write_input).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write_input).write_text(json.dumps(solc_input, indent=1) + "\n", encoding="utf8")

    print(f"audit: solc {settings['version']} via {os.path.relpath(solc, REPO)}; {len(sources)} project files; "
          f"viaIR={settings['via_ir']} optimizer={settings['optimizer']} evm={settings['evm_version']}")

    # Slither reports IR failures through logging; collect them to tell project from dependency code.
    collected = _Collect()
    root = logging.getLogger()
    for h in root.handlers:  # printed once, below, with a verdict
        h.addFilter(lambda rec: "generate IR for" not in rec.getMessage())
    root.addHandler(collected)
    logging.getLogger("CryticCompile").setLevel(logging.ERROR)  # solc warnings are brownie's business
    try:
        cc = CryticCompile(SolcStandardJson(solc_input), solc=solc, solc_working_dir=str(ROOT))
    except Exception as e:  # InvalidCompilation and friends
        print(f"audit: compilation failed:\n{e}", file=sys.stderr)
        return 2
    t_compile = time.monotonic() - t0

    with tempfile.TemporaryDirectory() as tmp:
        # No triage database and no SARIF triage: the only way to silence a finding is a comment in the code.
        sl = Slither(cc, triage_database=str(Path(tmp) / "none.json"),
                     show_ignored_findings=args.show_suppressed)
        sl.sarif_input = str(Path(tmp) / "none.sarif")
        detectors = [d for _, d in inspect.getmembers(all_detectors)
                     if inspect.isclass(d) and issubclass(d, AbstractDetector)]
        for d in detectors:
            sl.register_detector(d)
        results = [r for rs in sl.run_detectors() for r in rs]
        unused = sl.get_unused_ignore_comments() if not args.show_suppressed else []
    t_total = time.monotonic() - t0

    ir_failures = [m for m in collected.messages if m.startswith("Impossible to generate IR")
                   or m.startswith("\nFailed to generate IR")]
    def in_dependencies(message: str) -> bool:
        paths = re.findall(r"\(([^()#]+)#", message)
        return bool(paths) and all(any(mk in p for mk in markers) for p in paths)

    project_ir_failures = [m for m in ir_failures if not in_dependencies(m)]

    project = [r for r in results if not is_dependency_only(r, markers)]
    deps_only = [r for r in results if is_dependency_only(r, markers)]
    by_sev: dict[str, list[dict[str, Any]]] = {s: [] for s in SEVERITIES}
    for r in project:
        by_sev.setdefault(r["impact"], []).append(r)
    fatal = [r for r in project if r["impact"] in FATAL]

    suppression_problems = check_suppressions(sources, {d.ARGUMENT for d in detectors})
    seen_unused = set()
    for u in unused:
        rel_file = os.path.relpath(u["file"], ROOT)
        key = (rel_file, u["line"], tuple(u["unused_detectors"]))
        if key in seen_unused:  # Slither lists a comment once per time it scanned the file
            continue
        seen_unused.add(key)
        if not any(m in rel_file for m in markers):
            suppression_problems.append(f"{rel_file}:{u['line']}: stale slither-disable-{u['comment_type']} for "
                                        f"{','.join(u['unused_detectors'])} (suppresses nothing)")

    print(f"audit: {len(detectors)} detectors, {len(sl.contracts)} contracts analysed "
          f"(compile {t_compile:.1f} s, total {t_total:.1f} s)")
    print("\nFindings in the project's sources (after in-code suppressions):")
    for sev in SEVERITIES:
        rs = by_sev.get(sev, [])
        counts = collections.Counter(r["check"] for r in rs)
        print(f"  {sev:<14}{len(rs):>3}  " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    print(f"  (dependency-only findings, in node_modules, not counted: {len(deps_only)})")

    listed = [r for r in project if args.verbose or r["impact"] in FATAL]
    for r in sorted(listed, key=lambda r: (SEVERITIES.index(r["impact"]), location(r))):
        desc = r["description"].strip().replace("\n", "\n      ")
        print(f"\n[{r['impact']}/{r['confidence']}] {r['check']} at {location(r)}\n      {desc}")

    failures: list[str] = []
    failures += [f"{r['impact']} {r['check']} at {location(r)} is neither fixed nor suppressed" for r in fatal]
    failures += [f"suppression: {p}" for p in suppression_problems]
    failures += [f"Slither could not analyse project code: {m.strip()}" for m in project_ir_failures]
    if ir_failures and not project_ir_failures:
        print(f"\nnote: Slither could not build IR for {len(ir_failures)} function(s), all in dependencies "
              "(a Slither limitation, not a finding):")
        for m in ir_failures:
            print("  " + " ".join(m.split())[:220])

    erc_failures: list[str] = []
    erc_notes: list[str] = []
    if not args.no_erc:
        print()
        erc_failures, erc_notes = run_erc_checks(sl, cfg["erc"], args.verbose)
        for n in erc_notes:
            print(f"  note: {n}")
    failures += erc_failures

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf8") as f:
            json.dump({
                "solc": settings["version"], "compiler": os.path.relpath(solc, REPO),
                "counts": {s: len(by_sev.get(s, [])) for s in SEVERITIES},
                "dependency_only": len(deps_only),
                "results": project, "failures": failures, "erc_notes": erc_notes,
                "ir_failures": ir_failures, "seconds": round(t_total, 1),
            }, f, indent=1)

    print()
    if failures:
        print(f"audit: FAILED, {len(failures)} problem(s):")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(f"audit: passed: no unexplained high or medium finding; ERC checks pass ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
