// Package wrongtypes uses descriptors with the wrong types; it must not
// build. Every line marked ERROR must fail to compile with a message
// matching the quoted regular expression, and no other line may fail.
package wrongtypes

import (
	"context"

	"github.com/gosignalr/signalr/contract"
)

var (
	score = contract.NewMethod2[string, int]("Score")
	ask   = contract.NewFunc1[string, int]("Ask")
)

// Use makes calls with arguments and handlers of the wrong types.
func Use(ctx context.Context, to contract.Sender, on contract.Invoker, r contract.Registrar) error {
	if err := score.Send(ctx, to, 3, "ann"); err != nil { // ERROR `cannot use 3 .* as string value`
		return err
	}
	name, points := "bob", 4
	if err := score.Send(ctx, to, points, name); err != nil { // ERROR `cannot use points .*int.* as string value`
		return err
	}
	if err := score.Send(ctx, to, "ann"); err != nil { // ERROR `not enough arguments`
		return err
	}
	if err := score.On(r, func(points int, name string) {}); err != nil { // ERROR `cannot use func.*as func\(string, int\) value`
		return err
	}
	var s string
	s, err := ask.Invoke(ctx, on, "question") // ERROR `cannot use ask.Invoke.*int.* as string value`
	if err != nil {
		return err
	}
	_ = s
	return ask.On(r, func(q string) (string, error) { return q, nil }) // ERROR `cannot use func.*as func\(string\) \(int, error\) value`
}
