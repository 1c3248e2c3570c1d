// Package surface is the provider surface the built-in embedding models
// share (llm/local's GloVe model and llm/local/use's transformer): the
// checks of an embedding request, the refusal of chat, and the errors, in
// the shapes OpenAI and the simulator use, so that both models answer a
// bad request the same way.
package surface

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/bulwark-ai/bulwark/llm"
)

// Served names the built-in provider's models, for its model_not_found
// message.
const Served = "bulwark-glove-sif-99d and local-use"

// Model is one built-in model of the provider named Provider.
type Model struct {
	Provider   string
	Name       string
	Dimensions int
}

// Check validates req for m and returns the dimensions to answer with
// (req's, or all of them).
func (m Model) Check(req *llm.EmbedRequest) (int, *llm.Error) {
	if req.Model != m.Name {
		return 0, m.NotFound(req.Model)
	}
	dims := req.Dimensions
	switch {
	case len(req.Input) == 0:
		return 0, m.BadRequest(req.Model, "input", "empty_array",
			"Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case dims < 0 || dims > m.Dimensions:
		return 0, m.BadRequest(req.Model, "dimensions", "invalid_value",
			fmt.Sprintf("Invalid 'dimensions': %d. The model %s supports 1 to %d dimensions.", dims, m.Name, m.Dimensions))
	case dims == 0:
		dims = m.Dimensions
	}
	for i, in := range req.Input {
		if in == "" {
			return 0, m.BadRequest(req.Model, fmt.Sprintf("input[%d]", i), "invalid_value",
				fmt.Sprintf("Invalid 'input[%d]': the input cannot be an empty string.", i))
		}
	}
	return dims, nil
}

// ChatError is the refusal of a chat request for model.
func (m Model) ChatError(model string) *llm.Error {
	if model != m.Name {
		return m.NotFound(model)
	}
	return m.BadRequest(model, "model", "model_not_supported",
		fmt.Sprintf("The model `%s` is an embedding model and does not support chat completions.", model))
}

// NotFound is the error of a model the provider does not serve.
func (m Model) NotFound(model string) *llm.Error {
	return &llm.Error{
		Kind: llm.KindNotFound, Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found",
		Message:  fmt.Sprintf("The model `%s` does not exist; the built-in provider serves %s.", model, Served),
		Provider: m.Provider, Model: model,
	}
}

// BadRequest is a 400 about param.
func (m Model) BadRequest(model, param, code, msg string) *llm.Error {
	return &llm.Error{
		Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Param: param, Code: code, Message: msg, Provider: m.Provider, Model: model,
	}
}

// Corrupt is the error of weights that fail to decode.
func (m Model) Corrupt(model string, err error) *llm.Error {
	return &llm.Error{Kind: llm.KindServer, Message: "the built-in embedding weights are corrupt", Provider: m.Provider, Model: model, Err: err}
}

// ContextError is the error of a request whose caller has gone.
func (m Model) ContextError(model string, err error) *llm.Error {
	k := llm.KindCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		k = llm.KindTimeout
	}
	return &llm.Error{Kind: k, Message: err.Error(), Provider: m.Provider, Model: model, Err: err}
}
