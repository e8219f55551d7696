package relayclient

// CheckNoLeaks lets the end-to-end tests (package relayclient_test) check
// for leaked client goroutines.
var CheckNoLeaks = checkNoLeaks
