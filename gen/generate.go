// Package gen is generated from openapi.yaml by oapi-codegen: the models, the
// Echo strict-server interface, the embedded spec and a Go client. Do not edit
// the *.gen.go files; change openapi.yaml and run `make generate`.
package gen

//go:generate go tool oapi-codegen -config models.cfg.yaml ../openapi.yaml
//go:generate go tool oapi-codegen -config server.cfg.yaml ../openapi.yaml
//go:generate go tool oapi-codegen -config client.cfg.yaml ../openapi.yaml
//go:generate go tool oapi-codegen -config spec.cfg.yaml ../openapi.yaml
