// Package builtin is the analyzer of embedded mode: it checks a scan's photos on this
// machine, with no network and no model, and fills the agents-service's response
// shape (domain/analysis) with what those checks can honestly say.
//
// # What it checks
//
// Each photo is read through an Opener by its blob key, its format sniffed from the
// bytes (JPEG, PNG, GIF, WebP, BMP, TIFF), its header read, and only then decoded, so a
// photo over 50 megapixels or 50 MB is refused before it costs memory. The decoded
// photo is averaged down once to a 512-px grayscale copy and dropped; every measure
// runs on that copy, which keeps a 12-megapixel photo cheap and makes scores
// comparable across cameras (the agents-service shows the model 512-768 px copies
// too, so blur that vanishes at that size does not matter). EXIF orientation of JPEGs
// is applied to the reported size and to the copy.
//
//   - Exposure: mean luma (0-255) and the shares of pixels at or below 16 (black) and
//     at or above 245 (white). Underexposed: mean below 45 or half the pixels black.
//     Overexposed: mean above 215 or half the pixels white. A well-lit room averages
//     about 128 (both shipped photos do); a dim but readable one stays above 45.
//   - Sharpness: variance of the 4-neighbour Laplacian. Blurry below 100. The shipped
//     photos score about 1,760 and 1,840; a box blur of radius 4 on the 1300-px photo
//     scores 99 and radius 8 scores 24; radius 8 on the 3000-px photo scores 96. A
//     featureless surface (a blank wall) also scores low: the advice to retake is still
//     right, since such a photo shows an inspector nothing. A photo flagged under- or
//     overexposed is not also called blurry: clipped pixels carry no texture, so its
//     Laplacian says nothing about focus.
//   - Resolution: longer edge below 640 px is low resolution, under what the
//     agents-service's checklist pass uses.
//   - Duplicates: a 64-bit difference hash (dHash on a 9×8 average) per photo; a photo
//     within Hamming distance 6 of an earlier one anywhere in the scan is its duplicate.
//     A half-size PNG re-encode of a shipped photo hashes at distance 0, a 10% crop at
//     16-21, the two shipped rooms at 42.
//
// # What it answers
//
// No checklist item. House and room types are [] (photo statistics cannot tell a villa
// from an apartment), evaluations are empty, and every item the agents-service could
// have evaluated is listed in Result.NotAssessed as "house:<id>", "room:<roomId>:<id>"
// or "product:<roomId>:<id>": house default items plus every house type's items (no
// type is detected, so any may apply), the same for rooms, and the products' items (or
// default.items, which replace them, as the agents read it). The room item "lighting"
// looks answerable from exposure but is not: it asks whether the fixtures work, and a
// daylight photo is bright whether they do or not.
//
// The findings go where people and programs read them: pros and cons name each photo
// by position ("Room 2, photo 1 is blurry (sharpness 12.3, below 100): retake it"), and
// result.summary carries one line per finding in the agents' "scope:item:value" form
// under the reserved item id image_check: "house:image_check:usable:<n>/<total>" and
// "room:<roomId>:image_check:<imageId>:<finding>", finding one of ok, underexposed,
// overexposed, blurry, low_resolution, duplicate_of:<imageId>, missing, unreadable,
// too_large. client_summary and its checklist_metadata follow the agents-service
// exactly; cost_info reports zero tokens and one zero-cost "image checks" stage.
//
// # Failures
//
// A missing, unreadable or oversized photo is a finding, like a photo the agents fail
// to fetch. Analyze fails with a non-retryable "no_usable_images" when no photo could be
// checked, a non-retryable "invalid_checklist" when a checklist is not a JSON object, a
// retryable "blob_unavailable" when the store fails other than with domain.ENOTFOUND,
// and a retryable "interrupted" when ctx ends; the last two also match their cause
// under errors.Is.
package builtin
