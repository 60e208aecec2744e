package checklist

import "slices"

// Item types the agents-service evaluates. An item of any other type gets no answer.
const (
	TypeBoolean     = "boolean"     // answered true or false
	TypeCategorical = "categorical" // answered with one of the item's options
	TypeConditional = "conditional" // answered with exists, a quality condition and quality subitems
)

// The quality values. The agents' answer model for a conditional item (its condition and
// every subitem) accepts only these, so they bound the options of conditional items and
// of subitems.
const (
	QualityPoor          = "Poor"
	QualityAverage       = "Average"
	QualityGood          = "Good"
	QualityExcellent     = "Excellent"
	QualityNotApplicable = "N/A"
)

// QualityOptions returns the quality values in the order the agents list them.
func QualityOptions() []string {
	return []string{QualityPoor, QualityAverage, QualityGood, QualityExcellent, QualityNotApplicable}
}

func isQuality(s string) bool { return slices.Contains(QualityOptions(), s) }

func isItemType(s string) bool {
	switch s {
	case TypeBoolean, TypeCategorical, TypeConditional:
		return true
	}
	return false
}
