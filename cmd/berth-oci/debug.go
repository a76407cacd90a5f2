package main

import (
	"github.com/hashicorp/go-hclog"
)

// logger is the executor's logger: with --debug and --log, the library's
// trace lines (each launch step and init stage step with its duration) go
// to --log in its format, as runc's debug lines do; otherwise none.
func (g *global) logger() hclog.Logger {
	if !g.debug || g.logFile == nil {
		return nil
	}
	return hclog.New(&hclog.LoggerOptions{Name: "berth-oci", Level: hclog.Trace, Output: g.logFile,
		JSONFormat: g.logFormat == "json", TimeFormat: "2006-01-02T15:04:05.000000Z07:00"})
}
