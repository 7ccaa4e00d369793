package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wfpsandbox/wfpsandbox/version"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the wfpsandbox version",
		usage:   "[--format text|json]",
		run: func(_ context.Context, c *cli, args []string) int {
			fs := c.flags("version")
			if !c.parse(fs, args) {
				return exitError
			}
			info := version.Get()
			c.emit(info, func(w io.Writer) {
				fmt.Fprintf(w, "wfpsandbox %s (%s", info.Version, info.GoVersion)
				if info.Commit != "" {
					fmt.Fprintf(w, ", commit %s", info.Commit)
				}
				fmt.Fprintln(w, ")")
			})
			return exitOK
		},
	})
}
