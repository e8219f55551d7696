package dep

var _ int = "not an int on windows"
