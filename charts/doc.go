// Package charts holds hookwall's Helm chart, in charts/hookwall, and the
// test that guards it: the test builds helm from its Go module, lints the
// chart and checks the Kubernetes objects it renders. The package has no Go
// code of its own; it exists so that `go test ./charts/...` runs that test.
package charts
