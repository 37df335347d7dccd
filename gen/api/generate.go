// Package api is generated from openapi.yaml by oapi-codegen: the wire models
// and a Go client. It imports nothing of the server (no Echo, kin-openapi,
// GORM or database drivers), so client teams can depend on it alone. Do not
// edit the *.gen.go files; change openapi.yaml and run `make generate`.
package api

//go:generate go tool oapi-codegen -config models.cfg.yaml ../../openapi.yaml
//go:generate go tool oapi-codegen -config client.cfg.yaml ../../openapi.yaml
