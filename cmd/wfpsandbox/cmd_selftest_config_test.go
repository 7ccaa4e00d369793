package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// `selftest --policy FILE` lays its matrix out for the file's rules: the Config the CLI
// passes describes them, and they are the rules the run installs for the temporary
// account (whose SID only Run knows).
func TestSelftestConfigHoldsPolicyRules(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(pol, []byte(policyWithRule), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pf := addPlanFlags(fs)
	if err := fs.Parse([]string{"--policy", pol}); err != nil {
		t.Fatal(err)
	}
	opts, err := pf.optionsFor(selftest.PlaceholderSID)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := policy.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := selftestConfig(plan, opts, pf.policyFile)
	if cfg.PolicyFile != pol || len(cfg.Extra) != 2 || cfg.Extra[0].ID != "file-ssh-v4" || cfg.Extra[1].ID != "file-ssh-v6" || cfg.Extra[0].Source != "ssh" {
		t.Fatalf("config %+v", cfg)
	}
	account, err := pf.optionsFor(sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckExtra(account.Extra); err != nil {
		t.Errorf("the account's options do not match the config: %v", err)
	}
	n := 0
	for _, p := range selftest.Probes(cfg) {
		if p.Rule != "" {
			n++
		}
	}
	if n != 4 { // TCP to port 22 on loopback and the local address, IPv4 and IPv6
		t.Errorf("%d probes for the file's rule, want 4", n)
	}
}
