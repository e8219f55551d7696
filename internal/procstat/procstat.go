// Package procstat reads what the operating system counts for this
// process: its CPU time, for benchmarks that report cost beside wall time
// (the machines they run on are shared, and wall time there measures the
// neighbours too). Where a system does not count it, CPUTime is 0.
//
// (A child's peak memory is not here: on Linux, getrusage's ru_maxrss for
// a child includes what it inherited from its parent at fork, so a test
// with a large heap would measure itself. The CLI reports its own peak
// instead, see cmd/ephemera-cli.)
package procstat
