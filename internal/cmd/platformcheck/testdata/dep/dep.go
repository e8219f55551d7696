// Package dep stands for a dependency whose Windows files need cgo or are
// otherwise broken: its own errors are not platformcheck's to report.
package dep

// Name is what app uses.
func Name() string { return "dep" }
