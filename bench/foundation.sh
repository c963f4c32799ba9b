#!/usr/bin/env bash
# The foundation's benchmarks, side by side in one run: each request-path
# stage alone (SigV4 verification, policy evaluation, audit append, store
# read) and the whole path for sts:GetCallerIdentity and a 4 KB
# secretsmanager:GetSecretValue, straight into the handler and over HTTP.
# COUNT runs each (default 6) so medians can be quoted; pipe through
# benchstat (go run golang.org/x/perf/cmd/benchstat@latest) for them.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-6}
go test -run '^$' -count "$count" -benchmem -bench 'BenchmarkVerify$' ./internal/sigv4/
go test -run '^$' -count "$count" -benchmem -bench 'BenchmarkEvaluate$' ./internal/policy/
go test -run '^$' -count "$count" -benchmem -bench 'BenchmarkAppendParallel$' ./internal/audit/
go test -run '^$' -count "$count" -benchmem -bench 'BenchmarkGet$' ./internal/store/sqlite/
go test -run '^$' -count "$count" -benchmem -benchtime 2s -bench 'BenchmarkRequestPath|BenchmarkGetSecretValueHandler' ./internal/server/
