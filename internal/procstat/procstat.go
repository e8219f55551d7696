// Package procstat reads what the operating system counts for a process:
// CPU time, for benchmarks that report cost beside wall time (the machines
// they run on are shared, and wall time there measures the neighbours too),
// and the peak resident memory of a child that has exited, for tests that
// check memory stays flat.
//
// Where a system does not count something, the functions say so (ok false,
// or a zero CPU time) rather than guess.
package procstat
