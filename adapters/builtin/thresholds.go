package builtin

// The numbers every check uses. They are constants, not options, so that two
// scanledger installs judge the same photo the same way; doc.go explains each one.
const (
	// analysisEdge is the longer edge the checks run at. The agents-service shows
	// the model photos at 512-768 px, so blur invisible at this size does not matter
	// to anyone, and a fixed size makes the sharpness score comparable across cameras.
	analysisEdge = 512

	darkLuma   = 16  // luma at or below this is clipped to black
	brightLuma = 245 // luma at or above this is clipped to white

	underMean     = 45.0 // mean luma below this is too dark
	underClipped  = 0.50 // or this share of pixels clipped to black
	overMean      = 215.0
	overClipped   = 0.50
	blurThreshold = 100.0 // Laplacian variance at analysisEdge below this is blurry

	lowResolutionEdge = 640 // longer edge below this loses the detail an inspector needs

	duplicateDistance = 6 // dHash Hamming distance at or below this is the same shot

	defaultMaxPixels = 50_000_000
	defaultMaxBytes  = 50 << 20 // the agents-service's own per-image limit
)
