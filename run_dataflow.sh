#!/usr/bin/env bash
# vidlabel on Google Cloud Dataflow: `vidlabel run` with the DataflowRunner, over gs:// inputs and outputs.
#
#   ./run_dataflow.sh --project P --region R --bucket B \
#       --input gs://B/videos/ --output gs://B/labels --model a0-stream-tflite [any vidlabel run flag]
#
# Flags of this script (every other flag goes to `vidlabel run` unchanged; see `./run_local.sh run --help`):
#   --bucket B                --temp_location gs://B/tmp and --staging_location gs://B/staging, unless given
#   --gpu TYPE[:COUNT]        GPUs on every worker, e.g. nvidia-l4 or nvidia-tesla-t4:1: Dataflow's worker_accelerator
#                             service option with the NVIDIA driver installed. Needs --sdk_container_image IMAGE, an
#                             image with CUDA built from docker/Dockerfile (README: "Dataflow").
#   --dry_run                 build and validate the whole job here, offline, and submit nothing
#
# Defaults, each replaced by the same flag given on the command line: --machine_type n2-standard-4,
# --max_num_workers 10, --number_of_worker_harness_threads 2 (one decoder process per thread; README explains),
# --disk_size_gb 50. --setup_file ./setup.py ships vidlabel to the workers, unless --sdk_container_image names an
# image that holds it.
#
# The launcher resolves the model and labels here and stages the model under --temp_location, so workers need no
# internet to get it. It uses the same virtual environment as run_local.sh (created on first use; the runtime
# dependencies only).
set -euo pipefail
cd "$(dirname "$0")"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
fail() { echo "run_dataflow.sh: error: $*" >&2; exit 2; }
value() { [ $# -ge 2 ] && [[ "$2" != --* ]] || fail "$1 needs a value"; }

bucket="" gpu="" dry_run=0 image="" temp_given=0
passed=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage ;;
    --bucket) value "$@"; bucket="$2"; shift 2; continue ;;
    --bucket=*) bucket="${1#*=}" ;;
    --gpu) value "$@"; gpu="$2"; shift 2; continue ;;
    --gpu=*) gpu="${1#*=}" ;;
    --dry_run | --dry_run=True | --dry_run=true)
      dry_run=1
      [[ "${2:-}" =~ ^(True|true)$ ]] && shift ;;
    --sdk_container_image | --worker_harness_container_image) value "$@"; image="$2"; passed+=("$1" "$2"); shift 2; continue ;;
    --sdk_container_image=* | --worker_harness_container_image=*) image="${1#*=}"; passed+=("$1") ;;
    --temp_location | --temp_location=* | --staging_location | --staging_location=*) temp_given=1; passed+=("$1") ;;
    --runner | --runner=*) fail "this script runs on Dataflow; for the local runner use ./run_local.sh" ;;
    *) passed+=("$1") ;;
  esac
  shift
done

bucket="${bucket#gs://}"
bucket="${bucket%%/*}"
derived=()
if [ -n "$bucket" ]; then  # given --temp_location/--staging_location come later and win
  derived+=(--temp_location "gs://$bucket/tmp" --staging_location "gs://$bucket/staging")
elif [ "$temp_given" = 0 ]; then
  fail "give --bucket BUCKET (or --temp_location gs://BUCKET/tmp): Dataflow stages the code and the model there"
fi

if [ -n "$gpu" ]; then
  type="${gpu%%:*}" count="1"
  [[ "$gpu" == *:* ]] && count="${gpu#*:}"
  [[ "$type" =~ ^nvidia-[a-z0-9-]+$ ]] || fail "--gpu $gpu: expected a Dataflow GPU type such as nvidia-l4, nvidia-tesla-t4 or nvidia-tesla-a100, optionally :COUNT"
  [[ "$count" =~ ^(1|2|4|8)$ ]] || fail "--gpu $gpu: the count after ':' must be 1, 2, 4 or 8"
  [ -n "$image" ] || fail "--gpu needs --sdk_container_image IMAGE: a worker image with CUDA and vidlabel, built from docker/Dockerfile (see README, \"GPU workers\")"
  case "$type" in  # a machine that carries this many of this GPU (Dataflow refuses other pairs); --machine_type overrides
    nvidia-l4) machine=$(case "$count" in 1) echo g2-standard-8 ;; 2) echo g2-standard-24 ;; 4) echo g2-standard-48 ;; 8) echo g2-standard-96 ;; esac) ;;
    nvidia-tesla-a100) machine="a2-highgpu-${count}g" ;;
    nvidia-a100-80gb) machine="a2-ultragpu-${count}g" ;;
    nvidia-h100-80gb) machine="a3-highgpu-${count}g" ;;
    *) machine="n1-standard-$((count > 1 ? 8 * count : 8))" ;;  # T4, V100, P100, P4 attach to N1
  esac
  derived+=(--machine_type "$machine" --dataflow_service_options "worker_accelerator=type:$type;count:$count;install-nvidia-driver")
  # One SDK process owns the GPU (several would each claim its memory); its threads, each with a decoder process,
  # keep it fed.
  derived+=(--experiments no_use_multiple_sdk_containers --number_of_worker_harness_threads 8)
fi
[ "$dry_run" = 1 ] && derived+=(--dry_run=True)

defaults=(--runner DataflowRunner --machine_type n2-standard-4 --max_num_workers 10 --number_of_worker_harness_threads 2
  --disk_size_gb 50)
# The code reaches workers as a package built from setup.py, unless they run an image that already holds it
# (built from this checkout: rebuild it when the code changes).
[ -n "$image" ] || defaults+=(--setup_file ./setup.py)
# Given flags come after the defaults, so they win (Beam takes the last value of a repeated flag).
exec ./run_local.sh run "${defaults[@]}" "${derived[@]}" "${passed[@]}"
