"""Which pixels belong to the object.

From the alpha channel when the image has a real one. Otherwise the background is separated by a
weight-free "flood" method, chosen by version (part of an asset's identity, see FLOOD_VERSION):

- "1": the background colour is estimated from the border and flooded inward through pixels of
  that colour. It crosses the outline wherever the object's colour meets the background's, and
  takes soft shadows for the object.
- "2": edges are walls. Sharp edges (a fine-scale gradient less a coarse one, so the soft ramp
  of a shadow is no wall) enclose the object's regions; what they enclose is object unless it
  looks like background seen through a hole or between thin parts. Seeds from those regions, from
  colours no shadow explains, and from thin parts (what a median filter removes) compete in a
  watershed over the edge map, so shadows beside the object go to the background and the outline
  settles on the edge. Last, each pixel near the outline or in a thin part is judged against the
  local background as an alpha matte is: object when at least half-way to the object's colour.
  All of it runs on a window around what is not plain background (object and shadows).
- "3": as "2", with two repairs. A thin-part seed must differ from the median in its own pixels,
  not only in its blur: the blur of a dark outline reached into the shadow beside it and seeded the
  shadow as object. And deep inside a part that no wall encloses, a pixel judged background only
  stays background when it belongs to background seen between parts (partly plain, or a wide patch
  joining nothing): a dark crease or a silver stretch on a white part no longer cuts the part
  into specks that the cleaning then drops.
- "4": as "3", but where the object's colour stands well clear of the noise, an outline pixel is
  judged by its own colour rather than by its blur: the blur that keeps noise from deciding a faint
  outline also moved the outline of thin parts by a pixel (fronds too wide, an arm's rim lost).
  Faint outlines are still judged on the blur.
- "5": as "4", but shadow beside the object is no longer taken for object by the outline pass. Only
  within a pixel of the watershed's outline does that pass judge a pixel against the object's colour;
  farther out, standing clear of the noise is all it asks, and a shadow next to the object does too.
  So where the outline is unsure (within an analysis pixel of the watershed's outline, and wherever
  the pass added to the object), a pixel that looks like shadow (no other hue, no more light, well
  darker than the backdrop yet not well clear of its local background, which is the shadow's lighter
  part) stays object only when the object reaches it through lower full-size edges than the
  background does: the shadow beyond the object's edge goes back to the background, a faint rim or
  shaded side within it stays.
- "6": as "5", but the outline is placed to within a pixel by the edge's own profile: the wide blurs
  that estimate the local background and the object's colour are biased at the rim (shaded rims,
  shadows, other colours inside). For each pixel within a pixel and a half of the outline, the image
  is read a little way out from the outline along its normal (the background there, shadow
  included) and as far in (the object's colour at its rim); the pixel is object when its colour is
  at least half-way from the one to the other (alpha >= 0.5). Where the two differ too little for
  the noise, or a sample would cross a thin part or a narrow gap to the far side, "5" decides.
- "7": as "6", but the backdrop seen through a narrow gap between a hued object's parts, darkened by
  the object's shadow, is background. The walls of such a gap, thickened to close the outline, leave
  no region of it to judge, and no seed reaches it, so the watershed gave it to the object. Now a patch
  that has the backdrop's own hue within the noise and a shadow's brightness (0.4 to just under the
  backdrop's) is seeded as background when the object is hued (most of its seeds carry a hue the
  backdrop lacks), the object's colours just past the patch's edge are mostly not neutral (else it is
  the shaded side of a grey part) and the pixels right around it carry one hue (where a blue plate
  meets a yellow bun, the blend between opposite hues passes through neutral). Hued pixels next to
  such a gap are seeded as object, so a part's shaded stretch does not go with it. On grey and white
  objects nothing changes.
- "8": as "7", but the outline pass no longer drops stretches of the object that its sharp outline
  encloses. Judged against a local background of the same colour (a grey part on a grey backdrop, a
  white highlight on a white one), such a stretch looked like background, though the background
  reaches it only across the object's edges. Now a patch the pass dropped stays object when no path
  of dropped pixels off the edges' walls joins it to the background (the watershed's, or what is seen
  between parts) or to the window's edge, the object holds a quarter of its rim, and it spans a few
  pixels. A patch shadow-coloured is still left to the full-size edges, as in "5".
- "9": as "8", but a dark band of the object along its outline (a pan's rim, a tyre, a dial's bezel)
  is no longer given to the background as the object's cast shadow. Such a band has a shadow's colour,
  no seed reaches it, and the watershed flooded it from the background across its outer edge, which
  is as high as its inner one; so "8" did not count it as enclosed. Yet a cast shadow fades softly
  away from the object, and no sharp edge parts it from the lighter backdrop, while a band of the
  object's own ends at one. Now a patch the outline pass dropped is the object's, with the walls that
  bound it, when no path of dropped pixels off the edges' walls joins it to background the watershed
  was seeded with (or seen between parts) or to the window's edge, the object (with the walls that hug
  it) holds a quarter to three quarters of its rim (the rest faces the backdrop), it spans a few
  pixels, and what lies just past its walls is lighter than the band by more than the noise. Such a
  band, shadow-coloured, is still left to the full-size edges, as in "5"; its inner edge holds it.
- "10": as "9", with four repairs for white and silver objects on white, where the object's highlights
  have the backdrop's colour and its cast shadow lies dark against its outline.
  Walls extend along weaker stretches of an edge only down to 0.7 of the wall limit (0.5 before) where
  the analysis runs on a copy shrunk by two or more: at half, the ramp of a dark shadow running into
  the outline joined the outline's wall, thickening it over the shadow, so no background seed reached
  the shadow and the watershed gave it to the object. Each analysis cell now keeps the strongest edge
  of its whole cell (a 3 px neighbourhood missed stretches of thin walls above 3 px per cell).
  The shadow pass of "5" questions shadow-like pixels within two analysis pixels of the watershed's
  background side (one before), so a cast shadow a few pixels wide goes back to the background.
  A thin part that the outline pass cut where it meets the object (an antenna at the head) is joined
  again by the watershed's pixels between them when the watershed joined it and its colour stands
  well clear of the background; "9" dropped it as a speck. Last, a small hole the steps left inside
  the object (at most 2% of it) that is about as light as the open backdrop is a highlight on the
  object, not the backdrop seen through it: the backdrop seen through a small opening lies in the
  object's shade. Such a hole is filled.

All refuse images whose border is not mostly one plain colour. Specks are dropped, pinholes
closed; real holes (transparent, or background seen through) are kept.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from ray_jobs.generators.base import ImageError
from ray_jobs.generators.segmentation import FLOOD_VERSION  # recorded in asset identities by the stage

NO_OBJECT_MESSAGE = "no foreground object found: use an image with a transparent or plain background"


class BackgroundNotPlain(ImageError):
    """The image's border is not a plain backdrop: the weight-free method cannot separate the object."""

# A component smaller than this share of the largest one is a speck, not a part.
MIN_PART_SHARE = 0.02
# Holes smaller than this share of the object are noise (e.g. JPEG artefacts), not openings.
MAX_PINHOLE_SHARE = 0.001
# Pixels this close (window side) to a strong edge are judged against that edge's contrast (v1).
EDGE_WINDOW = 5
# A plain background covers at least this share of the image border...
MIN_PLAIN_BORDER_SHARE = 0.6
# ... and most of the border (three quarters) lies within this colour distance of its median: studio
# backdrops with vignettes and JPEG noise stay well inside; a room or a pattern behind the object does not.
MAX_PLAIN_SPREAD = 30.0

# v2: regions and seeds are found on a copy no larger than this (px, longest side), the outline
# then settled at full size: the region work costs a quarter at 512 px and loses nothing a
# 2-pixel-wide edge band does not win back.
ANALYSIS_SIDE = 256
# An edge is a wall above this many times the border's own 99th-percentile edge response (noise).
WALL_NOISE_FACTOR = 1.5
# Walls are thickened by this many pixels (analysis scale) to close small gaps in an outline;
# a second, wider pass finds bodies whose outline has larger gaps and the background beyond them.
WALL_CLOSE = 2
WALL_CLOSE_WIDE = 6
# Within this many times the border's colour spread a pixel is plain background.
PLAIN_NOISE_FACTOR = 3.0
# ... and never closer than this (grey levels): a flawless border would make JPEG noise an object.
PLAIN_FLOOR = 6.0
# An enclosed region of background colour is a see-through hole when at least this share of the
# object (smaller ones, far from the outside, are markings on the object: a label, a highlight).
MIN_HOLE_SHARE = 0.05
# An enclosed region near the outside is background between thin parts when this share is plain.
MIN_POCKET_PLAIN_SHARE = 0.25
# An enclosed region smaller than this share of the image is too small to call a body.
MIN_BODY_SHARE = 0.001
# The edge map is a fine-scale gradient (sigma 1 px, full size) less a coarse one (this sigma).
COARSE_SIGMA = 3.0
# The local background behind an outline pixel is averaged over this sigma (full-size px).
LOCAL_BACKGROUND_SIGMA = 4.0
# Only a window around whatever is not plain is analysed: found on a copy this small (px, longest
# side), widened by this many analysis pixels, room for the widest wall closing around the object.
WINDOW_SEARCH_SIDE = 128
WINDOW_MARGIN = 20
# Thin parts: what a median filter of this side (analysis scale) removes.
THIN_MEDIAN = 5
THIN_NOISE_FACTOR = 4.0
# v3: the thin part's own pixels (not their blur) differ from the median by this share of that limit.
THIN_RAW_SHARE = 0.75
# v3: a part pixel this far (analysis px) from the background side is deep inside the part.
DEEP_REACH = 3
# v4: where the nearby object colour stands this many times the noise floor clear of the background,
# an outline pixel is judged by its own colour, not its blur.
SHARP_CONTRAST_FACTOR = 3.0
# A hue shift from the background smaller than this (grey levels) is no sign of the object.
HUE_FLOOR = 15.0
# v6: pixels whose centre lies within this distance (full-size px) of the outline are judged by the
# edge's profile: the outline from the steps before is off by a pixel at most where it is off by little.
PROFILE_BAND = 1.5
# v6: the profile is read this far (px) out from the outline and as far in: past the pixel of a
# one-pixel misplacement and the anti-aliased edge's own ramp, yet close to the rim's own colour.
PROFILE_REACH = 2.0
# v6: each sample must lie at least this far (px) within its own side of the outline; a part too
# thin for it, or a gap too narrow, would show the far side's colour.
PROFILE_CLEARANCE = 0.75
# v6: the profile decides only where object and background differ by this many times the noise floor.
PROFILE_CONTRAST_FACTOR = 2.0
# v7: a shadow keeps the backdrop's hue: within this many times the border's own hue noise (99th
# percentile), and never tighter than the floor (grey levels); a pale hued part in shade stands outside.
SHADOW_HUE_NOISE_FACTOR = 2.5
SHADOW_HUE_FLOOR = 2.0
# v7: a cast shadow leaves at least this share of the backdrop's brightness.
SHADOW_DARKEST = 0.4
# v7: an object is hued when at most this share of its seeds has the backdrop's hue...
MAX_NEUTRAL_OBJECT_SHARE = 0.25
# ... and a shadow-coloured patch is a gap when at most this share of the object pixels around it has,
# read past the blend at the patch's edge: from 3 to this many analysis px out.
MAX_NEUTRAL_AROUND_SHARE = 0.25
GAP_OBJECT_REACH = 4
# v7: the object's hued pixels this close (analysis px) to a gap are seeded as object against it.
GAP_REACH = 6
# v7: a gap spans at least this many analysis pixels: smaller neutral patches are blends at an edge.
MIN_GAP_AREA = 16
# v7: the hue around a gap is one hue: the mean of its hue vectors at least this share of their mean
# length. Where two opposite hues meet (blue plate, yellow bun) their blend is neutral, not backdrop.
MIN_HUE_COHERENCE = 0.7
# v8: a patch the outline pass dropped within the object's walls is the object's own when the object
# holds at least this share of its rim, and it spans at least this many pixels (fewer are an edge's blend).
MIN_HELD_SHARE = 0.25
MIN_KEPT_AREA = 4
# v9: walls within this many pixels of the object are its outline (they hold a band as the object does);
# past a band's walls, what lies this much farther is the backdrop beyond it.
RIM_WALL_HUG = 2
RIM_BEYOND_REACH = 3
# v9: a band along the outline faces the backdrop with at least a quarter of its rim.
RIM_MAX_HELD_SHARE = 0.75
# v6: the outline's normal is the gradient of the mask blurred by this sigma (px): a pixel staircase
# has no direction of its own.
NORMAL_SIGMA = 1.5
# Walls extend along weaker stretches of their edge down to this share of the wall limit...
WALL_EXTEND_SHARE = 0.5
# ... v10: a shadow's ramp running into the outline reached half, so only this share is a wall's.
WALL_EXTEND_SHARE_V10 = 0.7
# v10: the shadow pass ("5") questions pixels this many analysis px from the watershed's background side.
SHADOW_DOUBT_REACH = 2
# v10: a speck the watershed joined to the object is joined again when its colour differs from the
# local background by this many times the noise floor (a dark antenna on white: about 10; JPEG's ringing
# around a saturated object on white: up to 5; a grey leg's foot in its own contact shadow: 2 to 3).
REJOIN_CONTRAST_FACTOR = 6.0
# ... across a cut of up to this many pixels (the bridge: the watershed's pixels this near to both).
REJOIN_REACH = 3
# v10: a hole inside the object no larger than this share of it, and darker than the open backdrop by
# at most this many times the noise floor, is a highlight on the object (the backdrop seen through the
# gaps of the benchmark's objects is darker by 1.7 times it or more; their highlights by 1.2 or less).
MAX_HIGHLIGHT_SHARE = 0.02
MAX_HIGHLIGHT_DARKENING = 1.25


def object_mask(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Boolean HxW mask of the object; ImageError when there is none to separate."""
    if alpha is not None and alpha.min() < 128:
        mask = _clean(alpha >= 128)
    else:
        mask = flood_mask(rgb)
    if mask.sum() < 16:
        raise ImageError(NO_OBJECT_MESSAGE)
    return mask


def flood_mask(rgb: np.ndarray, version: str = FLOOD_VERSION) -> np.ndarray:
    """The object's mask on a plain background by the weight-free method ``version`` ("1" to "10"),
    specks dropped and pinholes closed; ImageError when the border is not plain."""
    methods = {"1": _flood_v1, **{str(level): functools.partial(_flood_v2, level=level) for level in range(2, 11)}}
    if version not in methods:
        raise ValueError(f"unknown flood version {version!r}: use one of {sorted(methods)}")
    return _clean(methods[version](rgb))


def _border(values: np.ndarray, width: int) -> np.ndarray:
    """The pixels of a ring ``width`` wide along the image edge, flattened."""
    return values[_ring(values.shape[:2], width)]


def _ring(shape: tuple[int, int], width: int) -> np.ndarray:
    ring = np.zeros(shape, bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    return ring


def _ring_width(shape: tuple[int, ...]) -> int:
    return max(1, min(shape[0], shape[1]) // 100)


def _plain_background(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """(background colour, tolerance) from the border; BackgroundNotPlain when the border is not plain."""
    border = _border(rgb, _ring_width(rgb.shape)).astype(np.float32)
    background = np.median(border, axis=0)
    border_distance = np.linalg.norm(border - background, axis=1)
    spread = float(np.percentile(border_distance, 75))
    # tolerance grows with the background's own spread (noise, gradients, JPEG)
    tolerance = float(np.clip(2.5 * spread + 20.0, 20.0, 80.0))
    if spread > MAX_PLAIN_SPREAD or np.mean(border_distance < tolerance) < MIN_PLAIN_BORDER_SHARE:
        raise BackgroundNotPlain(NO_OBJECT_MESSAGE)
    return background, tolerance


def _flood_v1(rgb: np.ndarray) -> np.ndarray:
    background, tolerance = _plain_background(rgb)
    distance = np.linalg.norm(rgb.astype(np.float32) - background, axis=2)
    # near a strong edge, a pixel needs half the edge's contrast to count as object:
    # drops JPEG ringing and half-blended edge pixels that a fixed tolerance lets through
    edge_contrast = ndimage.maximum_filter(distance, size=EDGE_WINDOW)
    like_background = (distance < tolerance) | (distance < 0.5 * edge_contrast)
    labels, _ = ndimage.label(like_background)
    touching_border = np.unique(_border(labels, 1))
    flooded = np.isin(labels, touching_border[touching_border > 0])
    return ~flooded


def _flood_v2(rgb: np.ndarray, level: int = 2) -> np.ndarray:
    import cv2  # only plain-background images need it

    _, tolerance = _plain_background(rgb)
    # one thread, as the generator's other steps: the filters are small, and a pool that stays
    # awake after them takes a core from whatever runs next
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        # analysis at the same pixel size whatever the window: the constants are tuned to it
        scale = max(max(rgb.shape[:2]) / ANALYSIS_SIDE, 1.0)
        rows, cols = _object_window(rgb, round(WINDOW_MARGIN * scale))
        mask = np.zeros(rgb.shape[:2], bool)
        mask[rows, cols] = _walls_seeds_and_outline(rgb[rows, cols], tolerance, scale, level)
        return mask
    finally:
        cv2.setNumThreads(threads)


def _object_window(rgb: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Rows and columns holding everything that is not plain background (object, shadows), plus
    ``margin``: the rest of the image only costs time, and its border is as plain as the image's."""
    import cv2

    height, width = rgb.shape[:2]
    shrink = max(height, width) / WINDOW_SEARCH_SIDE
    if shrink <= 1:
        return slice(0, height), slice(0, width)
    small = cv2.resize(rgb, (round(width / shrink), round(height / shrink)), interpolation=cv2.INTER_AREA).astype(np.float32)
    ring = _ring(small.shape[:2], 2)
    distance = _norm(small - _plate(small, ring))
    gradient = _gradient(small)
    busy = ((distance > max(PLAIN_NOISE_FACTOR * float(np.percentile(distance[ring], 90)), PLAIN_FLOOR))
            | (gradient > WALL_NOISE_FACTOR * float(np.percentile(gradient[ring], 99))))
    # a lone noisy pixel is no object; the smallest real part still spans a few pixels here
    count, labels, stats, _ = cv2.connectedComponentsWithStats(busy.astype(np.uint8), connectivity=8)
    parts = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 3]
    if not parts:
        return slice(0, height), slice(0, width)
    left, top = stats[parts, cv2.CC_STAT_LEFT].min(), stats[parts, cv2.CC_STAT_TOP].min()
    right = (stats[parts, cv2.CC_STAT_LEFT] + stats[parts, cv2.CC_STAT_WIDTH]).max()
    bottom = (stats[parts, cv2.CC_STAT_TOP] + stats[parts, cv2.CC_STAT_HEIGHT]).max()
    return (slice(max(int(top * shrink) - margin, 0), min(int(np.ceil(bottom * shrink)) + margin, height)),
            slice(max(int(left * shrink) - margin, 0), min(int(np.ceil(right * shrink)) + margin, width)))


def _walls_seeds_and_outline(rgb: np.ndarray, tolerance: float, scale: float, level: int) -> np.ndarray:
    """The mask of ``rgb`` (the object's window); ``scale``: full-size pixels per analysis pixel;
    ``level``: the version (2 to 10; see the module's docstring)."""
    import cv2

    repaired = level >= 3
    height, width = rgb.shape[:2]
    image = rgb.astype(np.float32)
    # full-size scratch, shared by the steps below: on a fresh array the first touch of each page
    # costs about as much as the filter that fills it
    scratch = tuple(np.empty_like(image) for _ in range(3))
    edges = full_size_edges = _sharp_edges(image, scratch)
    if scale > 1:
        small_size = (round(width / scale), round(height / scale))
        small = cv2.resize(rgb, small_size, interpolation=cv2.INTER_AREA)
        # each cell keeps its strongest edge, so thin walls survive the shrink (v10: the whole cell's,
        # at any scale; a 3 px neighbourhood missed stretches of a thin wall above 3 px per cell)
        reach = max(3, int(np.ceil(scale)) + 1) if level >= 10 else 3
        edges = cv2.resize(cv2.dilate(edges, np.ones((reach, reach), np.uint8)), small_size, interpolation=cv2.INTER_NEAREST)
    else:
        small = rgb
    # v10: on a shrunk copy (two or more full-size pixels per analysis pixel), where each cell keeps
    # its strongest edge; on a copy near full size a leaflet's wall is weak along most of its length
    wall_extend = WALL_EXTEND_SHARE_V10 if level >= 10 and scale >= 2 else WALL_EXTEND_SHARE
    object_side, background_side, bodies, plate, seeded_background = _watershed_from_seeds(
        small, edges, tolerance, repaired, shadowed_gaps=level >= 7, wall_extend=wall_extend)
    # the walls inside a body (its creases, its printed details) stay as the watershed left them
    away_from_bodies = ~_dilate(bodies, 2 * WALL_CLOSE + 2)
    # v3: no thin part reaches this deep, so what is dropped there must show it is background
    deep = ~_dilate(background_side, DEEP_REACH) if repaired else np.zeros_like(bodies)
    if scale > 1:
        object_side, background_side, away_from_bodies, deep, seeded_background = (
            cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
            for m in (object_side, background_side, away_from_bodies, deep, seeded_background))
    return _settle_outline(image, object_side, background_side, away_from_bodies, deep, plate, scale, scratch, level,
                           full_size_edges, seeded_background, wall_extend)


def _sharp_edges(image: np.ndarray, scratch: tuple[np.ndarray, ...]) -> np.ndarray:
    """A fine-scale gradient less a coarse one, so the soft ramp of a shadow is no edge; at full
    size, which the finest scale needs."""
    blurred, dx, dy = scratch
    edges = _gradient(_blur(image, 1.0, out=blurred), dx, dy)
    coarse = _gradient(_blur(image, COARSE_SIGMA, out=blurred), dx, dy)
    return np.maximum(np.subtract(edges, coarse, out=edges), 0, out=edges)


def _watershed_from_seeds(rgb: np.ndarray, edges: np.ndarray, tolerance: float, repaired: bool,
                          shadowed_gaps: bool = False, wall_extend: float = WALL_EXTEND_SHARE):
    """(object side, background side, enclosed bodies, background plate, background seeds) at the
    analysis scale (the seeds: what the background side grew from, v9);
    ``shadowed_gaps`` (v7): the backdrop seen darkened through a gap of a hued object is background;
    ``wall_extend``: see _walls."""
    import cv2

    image = rgb.astype(np.float32)
    ring = _ring(rgb.shape[:2], _ring_width(rgb.shape))
    walls = _walls(edges, ring, wall_extend)
    smooth = _blur(image, 1.0)
    plate = _plate(smooth, ring)
    colour = _Colour(smooth, plate, ring)
    plain = colour.distance < colour.plain_limit
    # plain pixels reached from the border without crossing a wall
    plain_outside = _touching(plain & ~_dilate(walls, 1), ring)

    close = _Regions(walls, WALL_CLOSE, ring, plain, colour.shadow_like)
    wide = _Regions(walls, WALL_CLOSE_WIDE, ring, plain, colour.shadow_like)
    bodies = close.bodies | (wide.bodies & ~close.enclosed_background)

    object_colour = colour.unexplained(tolerance, ring)
    # only where the colour is at least half as far from the background as the strongest nearby:
    # a blurred thin part must not seed its surroundings, nor JPEG's hue bleed an edge's
    object_colour &= colour.distance >= 0.5 * cv2.dilate(colour.distance, np.ones((7, 7), np.uint8))
    object_colour &= ~_dilate(ring, 2)

    median = cv2.medianBlur(rgb, THIN_MEDIAN).astype(np.float32)
    removed = _norm(smooth - median)
    thin_limit = max(THIN_NOISE_FACTOR * float(np.percentile(removed[ring], 95)), 4.0)
    thin = (removed > thin_limit) & _dilate(walls, 1) & (removed >= 0.5 * cv2.dilate(removed, np.ones((3, 3), np.uint8)))
    if repaired:
        # the blur of a dark outline reaches a pixel into the shadow beside it: that pixel is no part
        raw_removed = _norm(image - median)
        raw_limit = max(THIN_NOISE_FACTOR * float(np.percentile(raw_removed[ring], 95)), 4.0)
        thin &= raw_removed > THIN_RAW_SHARE * raw_limit

    # background seen between thin parts: plain, away from every body, nothing removed there
    between = plain & ~_dilate(bodies, WALL_CLOSE + 3) & (removed < thin_limit) & ~colour.unexplained(tolerance, ring)
    background_seed = (ring | plain_outside | wide.outside | close.background | between) & ~object_colour
    object_seed = (bodies | object_colour | thin) & ~background_seed
    markers = np.zeros(rgb.shape[:2], np.int32)
    markers[background_seed] = 1
    markers[object_seed] = 2
    edge_levels = np.clip(edges * 8.0, 0, 255).astype(np.uint8)
    labels = _watershed(edge_levels, markers)
    if shadowed_gaps:
        gaps, hued = _shadowed_gaps(colour, labels == 2, object_seed, (object_colour | thin) & ~background_seed, ring)
        if gaps.any():
            # the object's own shaded stretches beside a gap keep their hue: they must not go with it
            markers[hued & (markers == 0) & _dilate(gaps, GAP_REACH)] = 2
            markers[gaps] = 1
            labels = _watershed(edge_levels, markers)
    return labels == 2, labels == 1, bodies, plate, markers == 1


def _shadowed_gaps(colour: _Colour, object_side: np.ndarray, object_seed: np.ndarray, sure_object: np.ndarray,
                   ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v7: (gaps, hued). Gaps: the patches of ``object_side`` that are the backdrop seen between the
    object's parts, darkened by its shadow: the backdrop's own hue within the noise and a shadow's
    brightness, on an object whose ``object_seed`` pixels mostly carry a hue the backdrop lacks, ringed
    by object pixels that carry one such hue. A grey object's shaded side is as neutral as its lit
    side, so on a grey object (or beside grey parts) such a patch stays object; and where two opposite
    hues meet, the blend between them passes through neutral: that is no gap either. ``sure_object``
    (colours no shadow explains, thin parts) is never a gap. Hued: the pixels of ``object_side`` well
    clear of the backdrop's hue, which no gap takes."""
    import cv2

    hue_noise = max(SHADOW_HUE_NOISE_FACTOR * float(np.percentile(colour.hue_shift[ring], 99)), SHADOW_HUE_FLOOR)
    neutral = colour.hue_shift < hue_noise
    hued = object_side & (colour.hue_shift >= 2.0 * hue_noise)
    no_gaps = np.zeros_like(object_side)
    if not object_seed.any() or neutral[object_seed].mean() > MAX_NEUTRAL_OBJECT_SHARE:
        return no_gaps, hued
    shadowed = ((colour.brightness >= SHADOW_DARKEST * colour.plate_brightness)
                & (colour.brightness < colour.plate_brightness - colour.plain_limit))
    candidates = neutral & shadowed & object_side & ~sure_object
    count, patches = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    if count == 1:
        return no_gaps, hued
    # the object's colours past the blend at the patch's edge: neutral ones say it is a grey part's shade
    beyond = _dilate(candidates, GAP_OBJECT_REACH) & ~_dilate(candidates, 2) & object_side
    beyond_owner = _nearest_patch(patches, GAP_OBJECT_REACH)[beyond]
    beyond_count = np.bincount(beyond_owner, minlength=count)
    neutral_share = np.bincount(beyond_owner, weights=neutral[beyond], minlength=count) / np.maximum(beyond_count, 1)
    # the hue right around each patch is one hue: the hue vectors' mean nearly as long as their mean
    # length (where opposite hues meet, they cancel)
    around = _dilate(candidates, 2) & ~candidates & object_side
    owner = _nearest_patch(patches, 2)[around]

    def per_patch(values: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(owner, weights=values, minlength=count)

    ringed = np.maximum(per_patch(), 1)
    direction = colour.plate[around] / np.maximum(colour.plate_brightness[around], 1e-3)[:, None]
    hue_vectors = colour.smooth[around] - colour.brightness[around][:, None] * direction
    mean_vector = np.stack([per_patch(hue_vectors[:, channel]) for channel in range(3)], axis=1) / ringed[:, None]
    coherence = _norm(mean_vector) / np.maximum(per_patch(colour.hue_shift[around]) / ringed, 1e-3)
    area = np.bincount(patches.ravel(), minlength=count)
    # a patch with no object beyond its edge (it borders the background there) has no grey part to shade
    gap = ((area >= MIN_GAP_AREA) & (neutral_share <= MAX_NEUTRAL_AROUND_SHARE) & (coherence >= MIN_HUE_COHERENCE))
    gap[0] = False
    return gap[patches], hued


def _nearest_patch(patches: np.ndarray, reach: int) -> np.ndarray:
    """Each pixel within ``reach`` of a patch of the label image ``patches`` given to one of them (the
    highest-numbered where several are near); 0 elsewhere."""
    import cv2

    box = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    return cv2.dilate(patches.astype(np.float32), box).astype(np.int64)


class _Colour:
    """Each pixel against the background plate: how far, and whether a shadow explains it."""

    def __init__(self, smooth: np.ndarray, plate: np.ndarray, ring: np.ndarray):
        self.smooth, self.plate = smooth, plate
        self.distance = _norm(smooth - plate)
        self.plain_limit = max(PLAIN_NOISE_FACTOR * float(np.percentile(self.distance[ring], 90)), PLAIN_FLOOR)
        self.plate_brightness = _norm(plate)
        direction = plate / np.maximum(self.plate_brightness, 1e-3)[..., None]
        # a shadow scales the background's colour: along it is brightness, across it is hue
        self.brightness = np.einsum("...c,...c->...", smooth, direction)
        self.hue_shift = _norm(smooth - self.brightness[..., None] * direction)
        # JPEG bleeds hue a few pixels past an edge: a small shift is no evidence of the object
        self.hue_limit = max(HUE_FLOOR, 3.0 * float(np.percentile(self.hue_shift[ring], 99)))
        self.shadow_like = (self.hue_shift < self.hue_limit) & (self.brightness < self.plate_brightness + self.plain_limit)

    def unexplained(self, tolerance: float, ring: np.ndarray) -> np.ndarray:
        """Pixels no shadow on the background explains: another hue, or brighter than the background."""
        if float(np.median(self.plate_brightness[ring])) < 30:  # on black, hue is noise: plain distance
            return self.distance > tolerance
        return (self.hue_shift > self.hue_limit) | (self.brightness > self.plate_brightness + self.plain_limit)


class _Regions:
    """Areas enclosed by walls (thickened by ``close`` px), sorted into object bodies and background."""

    def __init__(self, walls: np.ndarray, close: int, ring: np.ndarray, plain: np.ndarray, shadow_like: np.ndarray):
        import cv2

        walled = _dilate(walls, close)
        count, labels = cv2.connectedComponents((~walled).astype(np.uint8), connectivity=4)
        outside_ids = np.zeros(count, bool)
        outside_ids[labels[ring]] = True
        outside_ids[0] = False
        self.outside = outside_ids[labels]

        def per_region(values: np.ndarray | None = None) -> np.ndarray:
            weights = None if values is None else values.ravel()
            return np.bincount(labels.ravel(), weights=weights, minlength=count).astype(float)

        area = per_region()
        rim = per_region(_dilate(walled, 1) & (labels > 0))
        true_area = area + rim * close  # as large as it was before the walls were thickened
        plain_share = per_region(plain) / np.maximum(area, 1)
        background_share = per_region(plain | shadow_like) / np.maximum(area, 1)
        near_outside = per_region(_dilate(self.outside, 3 * close) & ~self.outside) > 0
        # a shading band is long and narrow: compact when some pixel lies deep enough inside
        inner_radius = cv2.distanceTransform((labels > 0).astype(np.uint8), cv2.DIST_L2, 3)
        needed_radius = (0.15 * np.sqrt(true_area) - close).astype(np.float32)
        compact = per_region(inner_radius >= needed_radius[labels]) > 0
        object_area = float((~self.outside).sum())
        # background between thin parts: next to the outside, much of it plain, not a narrow band
        pocket = near_outside & (plain_share >= MIN_POCKET_PLAIN_SHARE) & compact
        # a see-through hole: inside the object, large, background colours (a shadow may fall in it)
        hole = ~near_outside & (true_area >= MIN_HOLE_SHARE * object_area) & (background_share >= 0.8) & (plain_share >= 0.3)
        enclosed = ~outside_ids
        enclosed[0] = False
        background = enclosed & (pocket | hole)
        # a speck enclosed by JPEG ringing or noise is no evidence of a body; tiny regions inside
        # a real body are reached by its larger neighbours anyway
        sizable = true_area >= MIN_BODY_SHARE * labels.size
        self.bodies = (enclosed & ~background & sizable)[labels]
        self.enclosed_background = background[labels]
        # of a pocket only its plain part is sure background; a hole is background throughout
        self.background = background[labels] & (plain | hole[labels])


def _walls(edges: np.ndarray, ring: np.ndarray, extend: float = WALL_EXTEND_SHARE) -> np.ndarray:
    """Sharp edges above the border's noise, extended along weaker stretches of the same edge (down to
    ``extend`` times the limit)."""
    import cv2

    strong_limit = max(WALL_NOISE_FACTOR * float(np.percentile(edges[ring], 99)), 1.0)
    count, labels = cv2.connectedComponents((edges > extend * strong_limit).astype(np.uint8), connectivity=8)
    strong = np.zeros(count, bool)
    strong[labels[edges > strong_limit]] = True
    strong[0] = False
    return strong[labels]


def _plate(smooth: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """The background without the object: a quadratic in x and y fitted to the border (vignette, gradient)."""
    height, width = ring.shape

    def terms(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        y, x = y / height - 0.5, x / width - 0.5
        return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], -1)

    ys, xs = np.nonzero(ring)
    design, target = terms(ys.astype(np.float64), xs.astype(np.float64)), smooth[ring].astype(np.float64)
    keep = np.ones(len(design), bool)
    for _ in range(2):  # refit without the worst fifth: a shadow or the object may touch the border
        kept = design[keep]
        normal = np.einsum("ni,nj->ij", kept, kept) + 1e-9 * np.eye(kept.shape[1])
        coefficients = np.linalg.solve(normal, np.einsum("ni,nc->ic", kept, target[keep]))
        # term by term, not a matrix product: a BLAS call here would wake a thread pool for microseconds
        misfit = _norm(sum(design[:, i, None] * coefficients[i] for i in range(len(coefficients))) - target)
        keep = misfit <= max(2.0 * float(np.percentile(misfit, 80)), 1.0)
    # a quadratic is a sum of a row term, a column term and one product: no full-size term images
    one, x, y, xx, yy, xy = coefficients.astype(np.float32)
    column = np.arange(width, dtype=np.float32)[:, None] / width - 0.5
    row = np.arange(height, dtype=np.float32)[:, None] / height - 0.5
    along_x = one + column * x + column * column * xx
    along_y = row * y + row * row * yy
    return along_y[:, None] + along_x[None] + (row[:, None] * column[None]) * xy


def _settle_outline(image: np.ndarray, object_side: np.ndarray, background_side: np.ndarray,
                    away_from_bodies: np.ndarray, deep: np.ndarray, plate: np.ndarray, scale: float,
                    scratch: tuple[np.ndarray, ...], level: int = 3, edges: np.ndarray | None = None,
                    seeded_background: np.ndarray | None = None,
                    wall_extend: float = WALL_EXTEND_SHARE) -> np.ndarray:
    """Full-size pass: near the outline and in thin parts, a pixel is object when its colour is at
    least half-way from the local background to the nearby object colour (alpha >= 0.5); in ``deep``
    only when what is dropped there looks like background seen between parts (_background_between).
    ``plate``: the background at the analysis scale, ``scale`` full-size pixels per analysis pixel;
    ``scratch``: three arrays shaped like ``image`` to work in; ``edges``: the full-size edge map (v5);
    ``seeded_background``: what the watershed's background side grew from (v9); ``wall_extend``: see _walls.
    From v6 the pixels next to the result's outline are then judged by the edge's profile; from v10
    small holes as light as the backdrop are then filled as highlights."""
    import cv2

    smooth, weighted, plate_full = scratch
    small_plate = plate
    near_outline = _dilate(object_side, 3) & _dilate(background_side, 3)
    zone = near_outline | (object_side & away_from_bodies)
    _blur(image, 0.7, out=smooth)
    weight = (background_side & ~zone).astype(np.float32)
    np.multiply(smooth, weight[..., None], out=weighted)
    _blur(weighted, LOCAL_BACKGROUND_SIGMA, out=weighted)
    total = _blur(weight, LOCAL_BACKGROUND_SIGMA, out=weight)
    # the background colour around each pixel; the plate where no background is near
    local = np.divide(weighted, np.maximum(total, 1e-6)[..., None], out=weighted)
    far = total <= 0.05
    if far.any():
        if scale > 1:
            plate = cv2.resize(plate, far.shape[::-1], dst=plate_full, interpolation=cv2.INTER_LINEAR)
        np.copyto(local, plate, where=far[..., None])
    if level >= 4:  # each outline pixel's own colour against the background, before ``local`` is reused
        zone_pixels = np.nonzero(zone)
        own_contrast = _norm(image[zone_pixels] - local[zone_pixels])
    contrast = _norm(np.subtract(smooth, local, out=local))
    ring = _ring(object_side.shape, _ring_width(object_side.shape))
    noise = _norm(smooth[ring] - np.median(smooth[ring], axis=0))
    floor = max(3.0 * float(np.percentile(noise, 90)), 4.0)
    object_contrast = cv2.dilate(contrast * object_side, np.ones((3, 3), np.uint8))
    judged = (contrast >= 0.5 * object_contrast) & (contrast >= floor)
    if level >= 4:
        # the blur that keeps noise from deciding a faint outline widens a thin part by a pixel
        # where the contrast is high; the object's colour still comes from the blur (a maximum
        # over raw pixels would be raised by their noise)
        nearby = object_contrast[zone_pixels]
        sharp = nearby >= SHARP_CONTRAST_FACTOR * floor
        judged[zone_pixels] = np.where(sharp, (own_contrast >= 0.5 * nearby) & (own_contrast >= floor),
                                       judged[zone_pixels])
    between = np.zeros_like(deep)
    if deep.any():
        dropped = deep & zone & ~judged
        between = dropped & _background_between(dropped, contrast < floor, judged & object_side)
        judged |= dropped & ~between
    settled = np.where(zone, judged, object_side)
    kept = np.zeros_like(deep)
    if level >= 8:  # what the background reaches only across the object's edges is the object's
        walls = _walls(edges, ring, wall_extend)
        drops = _Drops(settled, walls)
        kept = _enclosed_drops(settled, background_side | between, drops)
        if level >= 9:  # a dark rim the watershed flooded from the background, though no seed reached it
            kept |= _dark_rims(settled, seeded_background | between, walls, drops, smooth, floor)
        settled = settled | kept
    if level >= 5:
        # the watershed placed the outline to within an analysis pixel: there, and wherever the pass
        # added to the object (or, v8 and v9, kept it), a pixel that looks like shadow is left to the full-size edges
        doubt_reach = SHADOW_DOUBT_REACH if level >= 10 else 1
        unsure = settled & (~object_side | _dilate(background_side, max(round(doubt_reach * scale), 1)) | kept)
        # ``local`` now holds each pixel's difference from its local background
        settled = _shadow_beyond_edges(settled, unsure, edges, smooth, local, floor, small_plate, scale)
    if level >= 10:
        settled = _rejoined(settled, object_side, contrast, floor)
    if level >= 6:
        settled = _outline_from_profile(settled, smooth, floor)
    if level >= 10:
        settled = _highlights_filled(settled, smooth, small_plate, scale, floor)
    return settled


def _rejoined(settled: np.ndarray, object_side: np.ndarray, contrast: np.ndarray, floor: float) -> np.ndarray:
    """v10: ``settled`` with the specks the cleaning would drop joined again to the parts it keeps,
    where the watershed's ``object_side`` joined them and their ``contrast`` to the local background
    stands well clear of the noise ``floor``: a thin part the outline pass cut where it meets the object
    (an antenna at the head). The bridge is the watershed's pixels within REJOIN_REACH of both."""
    import cv2

    count, parts = cv2.connectedComponents(settled.astype(np.uint8), connectivity=4)
    if count <= 2:
        return settled
    kept_parts = _kept_parts(parts, count)
    if kept_parts[1:].all():
        return settled
    kept = kept_parts[parts]
    # the specks' mean contrast, read from their pixels only (the parts kept are most of the window)
    speck_pixels = np.nonzero(settled & ~kept)
    mean_contrast, _ = _label_means(parts[speck_pixels], contrast[speck_pixels], count)
    clear = mean_contrast >= REJOIN_CONTRAST_FACTOR * floor
    clear[0] = False
    if not clear.any():
        return settled
    # the watershed's object pieces (8-connected, as it floods) that hold a kept part
    piece_count, pieces = cv2.connectedComponents((object_side | settled).astype(np.uint8), connectivity=8)
    holding = np.zeros(piece_count, bool)
    holding[pieces[kept]] = True
    holding[0] = False
    joined = clear[parts] & holding[pieces]
    if not joined.any():
        return settled
    return settled | (object_side & _dilate(joined, REJOIN_REACH) & _dilate(kept, REJOIN_REACH))


def _highlights_filled(settled: np.ndarray, smooth: np.ndarray, plate: np.ndarray, scale: float,
                       floor: float) -> np.ndarray:
    """v10: ``settled``, cleaned, with its small holes that are about as light as the backdrop ``plate``
    (at the analysis scale ``scale``; darker by at most MAX_HIGHLIGHT_DARKENING times the noise ``floor``)
    filled: a highlight on a white or silver object has the white backdrop's colour, while the backdrop
    seen through a small opening lies in the object's shade. A hole is small when it holds at most
    MAX_HIGHLIGHT_SHARE of the object; one that reaches the window's edge is no hole."""
    import cv2

    mask = _clean(settled)
    count, holes = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    if count <= 2:
        return mask
    area = np.bincount(holes.ravel(), minlength=count)
    small = area <= MAX_HIGHLIGHT_SHARE * mask.sum()
    small[_border(holes, 1)] = False
    small[0] = False
    if not small.any():
        return mask
    # only the small holes' pixels are read: the background outside is most of the window
    at = np.nonzero(small[holes])
    darker, _ = _label_means(holes[at], _norm(_plate_at(plate, at, scale)) - _norm(smooth[at]), count)
    highlight = small & (darker <= MAX_HIGHLIGHT_DARKENING * floor)
    return mask | highlight[holes]


class _Drops:
    """The patches the outline pass dropped (``settled`` false) off the ``walls``, 4-connected, and the
    pixels that ring them (each given to a patch it rings)."""

    def __init__(self, settled: np.ndarray, walls: np.ndarray):
        import cv2

        self.open = ~settled & ~walls
        self.count, self.patches = cv2.connectedComponents(self.open.astype(np.uint8), connectivity=4)
        self.rim = _dilate(self.open, 1) & ~self.open
        self.owner = _nearest_patch(self.patches, 1)[self.rim]
        self.area = np.bincount(self.patches.ravel(), minlength=self.count)

    def joined(self, background: np.ndarray) -> np.ndarray:
        """Per patch: whether it touches ``background`` or the window's edge."""
        joined = np.zeros(self.count, bool)
        joined[self.patches[background & self.open]] = True
        joined[self.patches[_ring(self.open.shape, 1)]] = True
        joined[0] = True
        return joined

    def held(self, holding: np.ndarray) -> np.ndarray:
        """Per patch: the share of its rim that ``holding`` holds."""
        return (np.bincount(self.owner, weights=holding[self.rim], minlength=self.count)
                / np.maximum(np.bincount(self.owner, minlength=self.count), 1))


def _enclosed_drops(settled: np.ndarray, background: np.ndarray, drops: _Drops) -> np.ndarray:
    """v8: the patches the outline pass dropped (``settled`` false) that lie within the object's sharp
    outline: no path of dropped pixels off the walls joins them to ``background`` (the watershed's
    background side, the background seen between parts) or to the window's edge, the object holds some
    of their rim and they span a few pixels. Judged against a backdrop of their own colour (a white
    highlight on white) they looked like background, which reaches them only across the edges."""
    # a patch that only its own edges ring, out in a shadow, is no stretch of the object
    held = drops.held(settled)
    # a few pixels between edges are the edges' own blend, not a stretch of the object
    sizable = drops.area >= MIN_KEPT_AREA
    return (~drops.joined(background) & sizable & (held >= MIN_HELD_SHARE))[drops.patches]


def _dark_rims(settled: np.ndarray, seeded: np.ndarray, walls: np.ndarray, drops: _Drops, smooth: np.ndarray,
               floor: float) -> np.ndarray:
    """v9: the patches the outline pass dropped (``settled`` false) that are a dark band of the object
    along its outline (a pan's rim, a tyre), with the ``walls`` that bound them: no path of dropped
    pixels off the walls joins them to ``seeded`` background (what the watershed was seeded with, the
    background seen between parts) or to the window's edge, the object (with the walls that hug it)
    holds some of their rim, and they are darker by the noise ``floor`` than what lies beyond their
    walls. A cast shadow fades softly away from the object, so no wall parts it from the lighter
    backdrop; a band of the object's own ends at a sharp edge against it. Judged against a
    shadow-dark local background, and reached by no seed, such a band went to the background side."""
    hugged = _dilate(settled, RIM_WALL_HUG)
    # the band's inner wall is the object's outline: it holds the band as the object's own pixels do
    held = drops.held(settled | (walls & hugged))
    # a band along the outline faces the backdrop with part of its rim: one the object rings all round
    # is a dull speck within it, which the steps before have judged
    candidate = (~drops.joined(seeded) & (drops.area >= MIN_KEPT_AREA)
                 & (held >= MIN_HELD_SHARE) & (held <= RIM_MAX_HELD_SHARE))
    if not candidate.any():
        return np.zeros_like(settled)
    candidates = np.where(candidate[drops.patches], drops.patches, 0)
    # across the walls, away from the object: the backdrop (or the shadow) beyond each band
    reach = 2 * RIM_WALL_HUG + RIM_BEYOND_REACH
    near = _nearest_patch(candidates, reach)
    beyond = (near > 0) & drops.open & (candidates == 0) & ~hugged

    beyond_brightness, beyond_count = _label_means(near[beyond], smooth[beyond].mean(axis=1), drops.count)
    band = candidates > 0
    band_brightness, _ = _label_means(candidates[band], smooth[band].mean(axis=1), drops.count)
    lighter_beyond = (beyond_count > 0) & (beyond_brightness - band_brightness >= floor)
    rims = (candidate & lighter_beyond)[drops.patches]
    # the walls that bound a band are its outline: the profile pass then settles it within them
    return rims | (walls & _dilate(rims, 2 * RIM_WALL_HUG) & ~hugged)


def _outline_from_profile(settled: np.ndarray, smooth: np.ndarray, floor: float) -> np.ndarray:
    """v6: each pixel of ``settled`` near its outline judged by the edge's profile across it: object
    when its colour in ``smooth`` is at least half-way from the background sampled just outside the
    outline to the object sampled just inside. Where the two differ by less than the noise ``floor``
    allows, or a sample would fall too near the far side, the pixel stays as it was."""
    import cv2

    # the outline the object will have: a speck's or a pinhole's own would cut the samples short
    settled = _clean(settled)
    inside = settled.astype(np.uint8)
    # distances between pixel centres: the outline runs half a pixel beyond the last centre
    depth_in = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    depth_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    signed = np.where(settled, depth_in - 0.5, 0.5 - depth_out)  # to the outline, > 0 inside
    at = np.nonzero(np.abs(signed) <= PROFILE_BAND)
    if not len(at[0]):
        return settled
    normal_y, normal_x = _inward_normals(settled, at)
    # the outline point nearest each pixel, and the samples out from it and in from it
    ys, xs = at[0] - signed[at] * normal_y, at[1] - signed[at] * normal_x
    out_y, out_x = ys - PROFILE_REACH * normal_y, xs - PROFILE_REACH * normal_x
    in_y, in_x = ys + PROFILE_REACH * normal_y, xs + PROFILE_REACH * normal_x
    background, colour = _sample(smooth, out_y, out_x), _sample(smooth, in_y, in_x)
    span = colour - background
    contrast_squared = np.einsum("nc,nc->n", span, span)
    decided = ((np.hypot(normal_y, normal_x) > 0.5)  # a normal was found
               & (_sample(depth_out, out_y, out_x) >= 0.5 + PROFILE_CLEARANCE)
               & (_sample(depth_in, in_y, in_x) >= 0.5 + PROFILE_CLEARANCE)
               & (contrast_squared >= (PROFILE_CONTRAST_FACTOR * floor) ** 2))
    # alpha >= 0.5: at least half-way from the background to the object, along the line between them
    object_like = np.einsum("nc,nc->n", smooth[at] - background, span) >= 0.5 * contrast_squared
    profiled = settled.copy()
    profiled[at[0][decided], at[1][decided]] = object_like[decided]
    return profiled


def _inward_normals(mask: np.ndarray, at: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (y, x) of ``mask``'s outline at the pixels ``at``, pointing into the object; zero
    where the blurred mask is flat (no outline near)."""
    soft = _blur(mask.astype(np.float32), NORMAL_SIGMA)
    height, width = mask.shape
    rows, cols = at
    down, up = np.minimum(rows + 1, height - 1), np.maximum(rows - 1, 0)
    right, left = np.minimum(cols + 1, width - 1), np.maximum(cols - 1, 0)
    gradient_y, gradient_x = soft[down, cols] - soft[up, cols], soft[rows, right] - soft[rows, left]
    length = np.hypot(gradient_y, gradient_x)
    unit = np.where(length > 1e-4, 1.0 / np.maximum(length, 1e-4), 0.0)
    return (gradient_y * unit).astype(np.float32), (gradient_x * unit).astype(np.float32)


def _sample(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``image`` (HxW or HxWxC) at the fractional points (ys, xs), bilinear; the edge pixels repeated
    beyond it. Shaped (N,) or (N, C)."""
    points = np.stack([ys, xs])
    if image.ndim == 2:
        return ndimage.map_coordinates(image, points, order=1, mode="nearest")
    return np.stack([ndimage.map_coordinates(image[..., channel], points, order=1, mode="nearest")
                     for channel in range(image.shape[2])], axis=1)


def _shadow_beyond_edges(settled: np.ndarray, unsure: np.ndarray, edges: np.ndarray, smooth: np.ndarray,
                         difference: np.ndarray, floor: float, plate: np.ndarray, scale: float) -> np.ndarray:
    """v5: of the ``unsure`` pixels of ``settled``, those that look like shadow (no other hue, no more
    light; well darker than the backdrop ``plate`` at the analysis scale ``scale``, yet not well clear of
    their local background: ``difference`` from it) stay object only where the object reaches them
    through lower ``edges`` than the background does. ``smooth``: the image as judged; ``floor``: the
    noise."""
    at = np.nonzero(unsure)
    if not len(at[0]):
        return settled
    change, pixel = difference[at], smooth[at]
    local = pixel - change
    direction = local / np.maximum(_norm(local), 1e-3)[:, None]
    along = np.einsum("nc,nc->n", change, direction)  # brighter than the local background when > 0
    across = _norm(change - along[:, None] * direction)  # another hue
    backdrop = _plate_at(plate, at, scale)
    well_clear = SHARP_CONTRAST_FACTOR * floor
    shadow_like = ((along <= floor) & (across < max(floor, HUE_FLOOR))
                   & (_norm(backdrop) - _norm(pixel) > well_clear) & (_norm(change) < well_clear))
    if not shadow_like.any():
        return settled
    doubt = np.zeros(settled.shape, bool)
    doubt[at[0][shadow_like], at[1][shadow_like]] = True
    markers = np.zeros(settled.shape, np.int32)
    markers[~settled] = 1
    markers[settled & ~doubt] = 2
    labels = _watershed(np.clip(edges * 8.0, 0, 255).astype(np.uint8), markers)
    # the watershed's own boundary pixels (label -1) stay as judged
    return settled & ~(doubt & (labels == 1))


def _label_means(owners: np.ndarray, values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean of ``values`` per label, pixels per label) for pixels labelled ``owners`` (``count`` labels);
    a label with no pixel has mean 0."""
    pixels = np.bincount(owners, minlength=count)
    return np.bincount(owners, weights=values, minlength=count) / np.maximum(pixels, 1), pixels


def _plate_at(plate: np.ndarray, at: tuple[np.ndarray, np.ndarray], scale: float) -> np.ndarray:
    """The backdrop ``plate`` (analysis scale, ``scale`` full-size pixels per analysis pixel) at the
    full-size pixels ``at``, shaped (N, 3)."""
    return plate[np.minimum((at[0] / scale).astype(int), plate.shape[0] - 1),
                 np.minimum((at[1] / scale).astype(int), plate.shape[1] - 1)]


def _background_between(dropped: np.ndarray, plain: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The patches of ``dropped`` (deep inside a part) that are background seen between parts: partly
    ``plain``, or wide and joining no two patches of ``kept``. The rest are the part's own creases
    and dull stretches, which would otherwise cut it into pieces that the cleaning drops as specks."""
    import cv2

    count, patches = cv2.connectedComponents(dropped.astype(np.uint8), connectivity=8)
    area = np.maximum(np.bincount(patches.ravel(), minlength=count), 1)
    partly_plain = np.bincount(patches.ravel(), weights=plain.ravel(), minlength=count) / area >= MIN_POCKET_PLAIN_SHARE
    wide = np.zeros(count, bool)
    wide[patches[cv2.erode(dropped.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)]] = True
    background = partly_plain | (wide & ~_joins_two(patches, count, kept))
    background[0] = False
    return background[patches]


def _joins_two(patches: np.ndarray, count: int, kept: np.ndarray) -> np.ndarray:
    """Per patch: whether it touches two or more separate pieces of ``kept`` (4-connected, as the
    cleaning counts parts)."""
    import cv2

    piece_count, pieces = cv2.connectedComponents(kept.astype(np.uint8), connectivity=4)
    touching = []
    for patch, piece in ((patches[:, 1:], pieces[:, :-1]), (patches[:, :-1], pieces[:, 1:]),
                         (patches[1:], pieces[:-1]), (patches[:-1], pieces[1:])):
        both = (patch > 0) & (piece > 0)
        touching.append(patch[both].astype(np.int64) * piece_count + piece[both])
    pairs = np.unique(np.concatenate(touching))
    return np.bincount(pairs // piece_count, minlength=count) >= 2


def _watershed(edges: np.ndarray, markers: np.ndarray) -> np.ndarray:
    """OpenCV's watershed floods the cheapest steps first and splits flat ground midway between
    seeds; it wants three channels and a one-pixel frame, which it marks as boundary."""
    import cv2

    framed = cv2.copyMakeBorder(cv2.merge([edges] * 3), 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    labels = np.pad(markers, 1)
    cv2.watershed(framed, labels)
    return labels[1:-1, 1:-1]


def _touching(mask: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` connected to the image border."""
    import cv2

    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    touching = np.zeros(count, bool)
    touching[labels[ring]] = True
    touching[0] = False
    return touching[labels]


def _gradient(image: np.ndarray, dx: np.ndarray | None = None, dy: np.ndarray | None = None) -> np.ndarray:
    """Gradient magnitude over all channels; ``dx`` and ``dy``, shaped like ``image``, are scratch."""
    import cv2

    dx = cv2.Sobel(image, cv2.CV_32F, 1, 0, dst=dx, ksize=3, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(image, cv2.CV_32F, 0, 1, dst=dy, ksize=3, borderType=cv2.BORDER_REPLICATE)
    squared = cv2.add(cv2.multiply(dx, dx, dst=dx), cv2.multiply(dy, dy, dst=dy), dst=dx)
    # summed over channels, and the Sobel kernel's weight of 8 divided out (1/64 before the root)
    summed = cv2.transform(squared, np.full((1, squared.shape[2]), 1 / 64, np.float32))
    return np.sqrt(summed, out=summed)


def _blur(image: np.ndarray, sigma: float, out: np.ndarray | None = None) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigma, dst=out, borderType=cv2.BORDER_REPLICATE)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def _norm(values: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...c,...c->...", values, values))


def _clean(mask: np.ndarray) -> np.ndarray:
    import cv2

    # 4-connected, as parts and holes were always counted
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    if count == 1:
        return mask
    mask = _kept_parts(labels, count)[labels]
    hole_count, holes = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    if hole_count > 2:
        hole_sizes = np.bincount(holes.ravel())
        outside = np.unique(_border(holes, 1))
        small = hole_sizes < max(MAX_PINHOLE_SHARE * mask.sum(), 4)
        small[outside] = False
        small[0] = False
        mask = mask | small[holes]
    return mask


def _kept_parts(labels: np.ndarray, count: int) -> np.ndarray:
    """Per part of the label image ``labels`` (``count`` labels, 0 the background): whether the
    cleaning keeps it, as a part rather than a speck."""
    sizes = np.bincount(labels.ravel(), minlength=count)
    sizes[0] = 0
    keep = sizes >= max(MIN_PART_SHARE * sizes.max(), 16)
    keep[0] = False
    return keep
