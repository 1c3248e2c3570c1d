// Package helm holds Bulwark's Helm chart, in bulwark/, and the test that
// keeps it honest: it renders the chart with Helm's own engine, with the
// default values and with scaled-values.yaml, decodes every manifest into
// the Kubernetes API types strictly, checks what a Bulwark pod needs
// (probes, secrets, a non-root read-only root, a grace period that covers
// the drain) and runs the rendered bulwark.yaml through config.Parse. It
// checks the root Dockerfile against the chart too: the same port, data
// directory and non-root user.
//
// Install the chart with `helm install bulwark deploy/helm/bulwark`
// (README "Deploy"). The package has no Go API; it must not be imported.
package helm
