package reconcile

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func TestInstallRefusesForeignObjects(t *testing.T) {
	pa := buildPlan(t, sidA, policy.MatchAllow)
	cases := []struct {
		name      string
		installed bool // whether our policy is installed first
		setup     func(e wfp.Engine) error
		wantKey   wfp.GUID
		wantInErr []string
	}{
		{
			name: "filter with our key, another provider",
			setup: func(e wfp.Engine) error {
				if err := addContoso(e); err != nil {
					return err
				}
				f := pa.Filters[3].Clone()
				pk := foreignProviderKey
				f.ProviderKey, f.ProviderData, f.Sublayer, f.Name = &pk, nil, foreignSublayerKey, "contoso rule"
				_, err := e.AddFilter(f)
				return err
			},
			wantKey:   pa.Filters[3].Key,
			wantInErr: []string{"contoso rule", foreignProviderKey.String(), pa.Filters[3].Name},
		},
		{
			name:      "our filter replaced by another provider's",
			installed: true,
			setup: func(e wfp.Engine) error {
				if err := addContoso(e); err != nil {
					return err
				}
				f := pa.Filters[10].Clone()
				pk := foreignProviderKey
				f.ProviderKey, f.ProviderData, f.Sublayer, f.Name = &pk, []byte("contoso data"), foreignSublayerKey, "contoso took it"
				return replaceFilter(e, f)
			},
			wantKey:   pa.Filters[10].Key,
			wantInErr: []string{"contoso took it", foreignProviderKey.String()},
		},
		{
			name: "filter with our key, no provider",
			setup: func(e wfp.Engine) error {
				neutral := wfp.MustParseGUID("0bbbbbbb-0000-4000-8000-000000000002")
				if err := e.AddSublayer(&wfp.Sublayer{Key: neutral, Name: "neutral", Flags: wfp.SublayerFlagPersistent, Weight: 2}); err != nil {
					return err
				}
				f := pa.Filters[8].Clone()
				f.ProviderKey, f.ProviderData, f.Sublayer, f.Name = nil, nil, neutral, "providerless"
				_, err := e.AddFilter(f)
				return err
			},
			wantKey:   pa.Filters[8].Key,
			wantInErr: []string{"providerless", "no provider"},
		},
		{
			name: "sublayer with our key, another provider",
			setup: func(e wfp.Engine) error {
				if err := addContoso(e); err != nil {
					return err
				}
				pk := foreignProviderKey
				return e.AddSublayer(&wfp.Sublayer{Key: policy.SublayerKey, Name: "contoso's", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: 1})
			},
			wantKey:   policy.SublayerKey,
			wantInErr: []string{"contoso's", foreignProviderKey.String()},
		},
		{
			name: "provider with our key and a service name",
			setup: func(e wfp.Engine) error {
				return e.AddProvider(&wfp.Provider{Key: policy.ProviderKey, Name: "vpn", Flags: wfp.ProviderFlagPersistent, ServiceName: "ContosoVpn"})
			},
			wantKey:   policy.ProviderKey,
			wantInErr: []string{`"vpn"`, `"ContosoVpn"`},
		},
		{
			name: "provider with our key and provider data",
			setup: func(e wfp.Engine) error {
				return e.AddProvider(&wfp.Provider{Key: policy.ProviderKey, Name: "x", Flags: wfp.ProviderFlagPersistent, Data: []byte("contoso")})
			},
			wantKey:   policy.ProviderKey,
			wantInErr: []string{`"contoso"`},
		},
		{
			// Same name, flags and no service: only the missing ownership marker
			// tells it apart, and that is enough never to delete it.
			name: "provider with our key and name but no wfpsandbox marker",
			setup: func(e wfp.Engine) error {
				return e.AddProvider(&wfp.Provider{Key: policy.ProviderKey, Name: policy.ProviderName, Flags: wfp.ProviderFlagPersistent})
			},
			wantKey:   policy.ProviderKey,
			wantInErr: []string{"marker"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if tc.installed {
				w.install(t, pa)
			}
			w.mutate(t, tc.setup)
			before := snapshot(t, w.bfe)
			for _, dry := range []bool{true, false} {
				_, err := Install(w.rec, pa, Options{DryRun: dry})
				var fe *ForeignError
				if !errors.As(err, &fe) || !errors.Is(err, ErrForeign) {
					t.Fatalf("dry=%v: error %v, want a *ForeignError", dry, err)
				}
				if fe.Key != tc.wantKey {
					t.Errorf("foreign key %s, want %s", fe.Key, tc.wantKey)
				}
				for _, s := range tc.wantInErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
			}
			if len(w.rec.writes()) != 0 {
				t.Fatalf("writes %v before refusing", w.rec.writes())
			}
			if !reflect.DeepEqual(before, snapshot(t, w.bfe)) {
				t.Fatal("the engine changed")
			}
			rep, err := Verify(w.session(t), pa)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Compliant || !hasFinding(rep, tc.wantKey, ProblemForeign) {
				t.Fatalf("verify does not report the foreign object: %+v", rep)
			}
		})
	}
}
