#!/usr/bin/env bash
# vidlabel on this machine, with Beam's local runner (FnApiRunner, one worker process per core).
#
#   ./run_local.sh --input VIDEOS --output OUT [flags]   label videos (same as `vidlabel run ...`)
#   ./run_local.sh COMMAND ...                            any vidlabel command (run, plot, synth,
#                                                         export-annotations, search, train-head, apply-head,
#                                                         report, export-model, finetune, demo), with the
#                                                         extras it needs
#   ./run_local.sh test [pytest args]                     install the test extras and run the test suite
#                                                         (./run_local.sh test tests/unit: the unit tier)
#   ./run_local.sh lint                                   ruff: lint, import order and format check
#   ./run_local.sh                                        the offline demo (`vidlabel demo`): render labelled
#                                                         videos, fine-tune MoViNet-A0 on them, label held-out
#                                                         videos with the pipeline, check them with DuckDB
#
# On first use it creates the virtual environment .venv (or $VIDLABEL_VENV) and installs vidlabel into it; it
# reinstalls when setup.py changes. Needs python3 >= 3.10 with venv.
set -euo pipefail
cd "$(dirname "$0")"

venv="${VIDLABEL_VENV:-.venv}"
python="${PYTHON:-python3}"

install() {  # install EXTRAS: once per set of extras and version of setup.py (a wider set installed will do)
  local extras="$1" stamp have extra covered
  if [ ! -x "$venv/bin/python" ]; then
    echo "run_local.sh: creating $venv" >&2
    "$python" -m venv "$venv"
  fi
  for stamp in "$venv"/.vidlabel-installed-*; do
    [ -f "$stamp" ] && [ ! setup.py -nt "$stamp" ] || continue
    have=",${stamp##*/.vidlabel-installed-},"
    have="${have//-/,}"
    covered=1
    for extra in ${extras//,/ }; do [[ "$have" == *",$extra,"* ]] || covered=0; done
    [ "$covered" = 1 ] && return 0
  done
  echo "run_local.sh: installing vidlabel[$extras] into $venv (first time: several minutes)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip "setuptools>=70,<81" wheel
  "$venv/bin/python" -m pip install -q -e ".${extras:+[$extras]}"
  touch "$venv/.vidlabel-installed-${extras//,/-}"
}

# Which extras each command needs: Model Garden (`export`) only for the commands that build or train models.
RUNTIME_COMMANDS="run plot synth export-annotations search train-head apply-head report"
EXPORT_COMMANDS="export-model finetune demo"

case "${1:-}" in
  test)
    shift
    install export,test
    exec "$venv/bin/python" -m pytest "$@"
    ;;
  lint)
    install export,test
    "$venv/bin/ruff" check .
    exec "$venv/bin/ruff" format --check .
    ;;
  "")
    install export
    exec "$venv/bin/vidlabel" demo
    ;;
  -h | --help | -V | --version)
    install ""
    exec "$venv/bin/vidlabel" "$@"
    ;;
  -*)  # flags first: `vidlabel run`
    install ""
    exec "$venv/bin/vidlabel" run "$@"
    ;;
  *)
    if [[ " $EXPORT_COMMANDS " == *" $1 "* ]]; then
      install export
    elif [[ " $RUNTIME_COMMANDS " == *" $1 "* ]]; then
      install ""
    else
      echo "run_local.sh: unknown command '$1'. Commands: test lint $RUNTIME_COMMANDS $EXPORT_COMMANDS" >&2
      echo "  (with no command, flags go to 'run': ./run_local.sh --input VIDEOS --output OUT)" >&2
      exit 2
    fi
    exec "$venv/bin/vidlabel" "$@"
    ;;
esac
