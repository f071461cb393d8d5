// Package docs holds hookwall's documents; its test checks that they hold
// together in a clone of the repository.
package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// link is a Markdown inline link's target.
var link = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinksStayInTheRepository: every relative link of every Markdown file
// names a file of the repository, so a clone has what the README points to
// (it once linked the contract outside the repository).
func TestLinksStayInTheRepository(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := exec.Command("git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "*.md").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	n := 0
	for _, name := range strings.Fields(string(files)) {
		text, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			n++
			path := filepath.Join(root, filepath.Dir(name), target)
			if rel, err := filepath.Rel(root, path); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links %s, outside the repository", name, m[1])
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links %s, which does not exist", name, m[1])
			}
		}
	}
	if n == 0 {
		t.Fatal("no relative links found: the pattern is broken")
	}
}

// TestContractIsTheSourceOfTruth: the README and the OpenAPI document name
// docs/CONTRACT.md as the contract.
func TestContractIsTheSourceOfTruth(t *testing.T) {
	for name, want := range map[string]string{
		"../README.md": "](docs/CONTRACT.md)",
		"openapi.yaml": "docs/CONTRACT.md",
		"CONTRACT.md":  "](openapi.yaml)",
	} {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), want) {
			t.Errorf("%s does not point to %s", name, want)
		}
	}
}
