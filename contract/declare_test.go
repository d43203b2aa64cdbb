package contract_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/contract"
)

type presenceClient struct {
	UserJoined contract.Method1[string]
	UserLeft   contract.Method1[string] `signalr:"userLeft"`
}

type chatClient struct {
	presenceClient
	ReceiveMessage contract.Method2[string, string]
	Typing         contract.Method0            `json:"typing"` // other tags are ignored
	AskName        contract.Func1[int, string] `signalr:"askName"`
	Ping           contract.Method4[int, int, int, int]
	Sum            contract.Func4[int, int, int, int, int]
}

func TestDeclareNamesFieldsAndTags(t *testing.T) {
	c, err := contract.Declare[chatClient]()
	require.NoError(t, err)
	assert.Equal(t, "UserJoined", c.UserJoined.Name())
	assert.Equal(t, "userLeft", c.UserLeft.Name())
	assert.Equal(t, "ReceiveMessage", c.ReceiveMessage.Name())
	assert.Equal(t, "Typing", c.Typing.Name())
	assert.Equal(t, "askName", c.AskName.Name())
	assert.Equal(t, "Ping", c.Ping.Name())
	assert.Equal(t, "Sum", c.Sum.Name())

	r := &recorder{answer: "bob"}
	require.NoError(t, c.ReceiveMessage.Send(context.Background(), r, "ann", "hi"))
	name, err := c.AskName.Invoke(context.Background(), r, 7)
	require.NoError(t, err)
	assert.Equal(t, "bob", name)
	assert.Equal(t, []call{{"ReceiveMessage", []any{"ann", "hi"}}, {"askName", []any{7}}}, r.calls)
}

type (
	notAStruct  []contract.Method0
	plainField  struct{ Name string }
	hiddenField struct {
		visible contract.Method0 //lint:ignore U1000 the field Declare must refuse
	}
	sameName struct {
		Send contract.Method0
		Echo contract.Method1[string] `signalr:"send"`
	}
	embeddedClash struct {
		presenceClient
		Joined contract.Method0 `signalr:"USERJOINED"`
	}
	pointerField struct {
		M *contract.Method0
	}
)

func TestDeclareRefusesInvalidContracts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		declare func() error
		want    string
	}{
		{"not a struct", func() error { _, err := contract.Declare[notAStruct](); return err }, "is not a struct"},
		{"plain field", func() error { _, err := contract.Declare[plainField](); return err }, "plainField.Name: string is not a method descriptor"},
		{"unexported field", func() error { _, err := contract.Declare[hiddenField](); return err }, "hiddenField.visible is not exported"},
		{"same name", func() error { _, err := contract.Declare[sameName](); return err }, `sameName.Send and contract_test.sameName.Echo both name the method "send"`},
		{"embedded clash", func() error { _, err := contract.Declare[embeddedClash](); return err }, `both name the method "USERJOINED"`},
		{"pointer field", func() error { _, err := contract.Declare[pointerField](); return err }, "is not a method descriptor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.declare(), tc.want)
		})
	}
}

func TestMustDeclare(t *testing.T) {
	assert.Equal(t, "userLeft", contract.MustDeclare[presenceClient]().UserLeft.Name())
	assert.PanicsWithError(t, "contract: contract_test.plainField.Name: string is not a method descriptor (Method0 … Method4, Func0 … Func4)", func() {
		contract.MustDeclare[plainField]()
	})
}
