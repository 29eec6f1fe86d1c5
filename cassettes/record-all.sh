#!/bin/sh
# Re-record every cassette of alibaba/wan-2-7-r2v against a sandbox started in-process.
# The sandbox runs on virtual time shared with the engine: a 522 s job records in well under a second.
# Run from anywhere; WAN_ENGINE overrides the command (default: wan-engine; `python -m
# wan_engine.harness_commands` works too).
set -eu
cd "$(dirname "$0")/.."
WAN="${WAN_ENGINE:-wan-engine}"
DIR="${CASSETTES:-cassettes}"
M=alibaba/wan-2-7-r2v
P=cassettes/$M/params

$WAN record $M --params $P/reference-videos.json --name success-reference-videos --seed 1 --cassettes "$DIR" --sandbox --duration 522 --download --force
$WAN record $M --params $P/images-first-frame.json --name success-images-first-frame --seed 2 --cassettes "$DIR" --sandbox --duration 522 --force
$WAN record $M --params $P/reference-videos.json --name job-fails --seed 3 --cassettes "$DIR" --sandbox --duration 300 --fault "submit:job_fails:message=The output was blocked by content moderation.:code=ContentModeration" --force
$WAN record $M --params $P/invalid-aspect-and-duration.json --name rejected-invalid-params --seed 4 --cassettes "$DIR" --sandbox --no-validate --force
$WAN record $M --params $P/reference-videos.json --name rate-limited-retry-after --seed 5 --cassettes "$DIR" --sandbox --duration 522 --fault "status:rate_limit:times=2:retry_after=5" --force
$WAN contract check "$DIR/$M"
