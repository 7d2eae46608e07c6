"""The patch-grid pretext tasks: Context Prediction (Doersch et al. 2015), Jigsaw (Noroozi & Favaro
2016) and Counting (Noroozi et al. 2017).

Label makers against images whose content says where each pixel came from, the shipped Jigsaw
permutations against a regeneration by Algorithm 1, the losses against NumPy float64, and per task
a shortcut an easy input offers with the counter-measure off and not with it on (checked on the
signal itself, analytically: no training)."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

from keras_ssl import augment, layers
from keras_ssl.augment import context, counting, jigsaw, tiles
from keras_ssl.cli.config import base_config, validate_config
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import ContextPrediction, Counting, Jigsaw
from keras_ssl.methods.counting import counting_loss
from keras_ssl.methods.patch_grid import cross_entropy_and_accuracy

SEED = tf.constant([3, 7], tf.int64)


def coordinate_image(batch, size):
    """float [B, S, S, 3]: channel 0 = row, 1 = column, 2 = image index (pixels name themselves)."""
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    image = np.stack([y, x, np.zeros_like(y)], axis=-1).astype(np.float32)
    images = np.repeat(image[None], batch, axis=0)
    images[..., 2] = np.arange(batch)[:, None, None]
    return tf.constant(images)


def gradient_image(batch, size):
    """A smooth ramp, brighter down and to the right: the deliberately easy input."""
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    ramp = (3.0 * y + x) / (4.0 * size)
    return tf.constant(np.repeat(np.repeat(ramp[None, ..., None], 3, -1), batch, 0), tf.float32)


# --- tiling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("grid,tile,gap,jitter", [(3, 18, 3, 1), (3, 10, 6, 3), (2, 12, 4, 2)])
def test_tiles_lie_inside_their_cells_with_the_gap(grid, tile, gap, jitter):
    cell = tile + gap
    size = grid * cell  # the grid fills the image: cell (r, c) is [r*cell, (r+1)*cell) x ...
    images = coordinate_image(64, size)
    out, positions = tiles.grid_tiles(images, grid, tile, gap, jitter, SEED)
    out, positions = out.numpy(), positions.numpy()
    assert out.shape == (64, grid * grid, tile, tile, 3)
    # Exact pixels: every tile is the image's slice at its position (rows and columns name it).
    np.testing.assert_array_equal(out[:, :, 0, 0, :2], positions)
    np.testing.assert_array_equal(out[:, :, -1, -1, :2], positions + tile - 1)
    np.testing.assert_array_equal(out[..., 2], np.broadcast_to(
        np.arange(64)[:, None, None, None], out[..., 2].shape))
    row, col = np.arange(grid * grid) // grid, np.arange(grid * grid) % grid
    top, left = row * cell, col * cell
    assert (out[..., 0].min(axis=(2, 3)) >= top).all()
    assert (out[..., 0].max(axis=(2, 3)) < top + cell).all()
    assert (out[..., 1].min(axis=(2, 3)) >= left).all()
    assert (out[..., 1].max(axis=(2, 3)) < left + cell).all()
    # Neighbours in a row / column are at least gap - 2 * jitter apart (never touching when
    # jitter < gap / 2), and the jitter is used: some tiles are off their cell's centre.
    grid_y = positions[..., 0].reshape(64, grid, grid)
    grid_x = positions[..., 1].reshape(64, grid, grid)
    assert (np.diff(grid_y, axis=1) - tile).min() >= gap - 2 * jitter
    assert (np.diff(grid_x, axis=2) - tile).min() >= gap - 2 * jitter
    offset = positions - np.stack([top, left], -1) - gap // 2
    assert np.abs(offset).max() == jitter
    # On a larger image the grid's origin moves per image, the tiles stay inside the image.
    _, moved = tiles.grid_tiles(coordinate_image(64, size + 5), grid, tile, gap, jitter, SEED)
    moved = moved.numpy()
    assert (moved >= 0).all() and (moved + tile <= size + 5).all()
    assert len(np.unique(moved[:, 0, 0])) > 3


def test_tile_offsets_are_the_cell_centre_plus_jitter_and_cover_the_range():
    images = coordinate_image(256, 63)  # grid 3 x 21 = 63: the origin is 0
    _, positions = tiles.grid_tiles(images, 3, 18, 3, 1, SEED)
    cells = np.arange(9)
    jit = positions.numpy() - np.stack([cells // 3 * 21 + 1, cells % 3 * 21 + 1], -1)
    assert set(np.unique(jit)) == {-1, 0, 1}
    _, same = tiles.grid_tiles(images, 3, 18, 3, 1, SEED)
    np.testing.assert_array_equal(positions, same)  # stateless: same seed, same tiles
    _, still = tiles.grid_tiles(images, 3, 18, 3, 0, SEED)
    np.testing.assert_array_equal(still.numpy()[0], np.stack([cells // 3 * 21 + 1,
                                                              cells % 3 * 21 + 1], -1))


def test_a_grid_that_does_not_fit_or_tiles_that_could_overlap_are_refused():
    with pytest.raises(ValueError, match="needs 66 pixels"):
        tiles.grid_tiles(tf.zeros([1, 64, 64, 3]), 3, 18, 4, 1, SEED)
    with pytest.raises(ValueError, match="jitter=2"):
        tiles.check_grid(64, 3, 18, 3, 2)
    config = base_config("jigsaw")
    config.data.image_size = 64  # the paper's 64-pixel tiles do not fit a 64x64 image
    config.augment.tile_size, config.augment.gap, config.augment.jitter = 64, 11, 5
    with pytest.raises(ValueError, match="augment.tile_size"):
        validate_config(config)


def test_color_counter_measures():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((4, 8, 8, 3)), tf.float32)
    projected = tiles.project_out_green_magenta(x).numpy()
    axis = np.array([-1.0, 2.0, -1.0]) / np.sqrt(6.0)
    np.testing.assert_allclose(projected @ axis, 0.0, atol=1e-6)
    # Luminance-like (1, 1, 1) component and red-blue difference are kept.
    np.testing.assert_allclose(projected.sum(-1), x.numpy().sum(-1), atol=1e-5)
    dropped = tiles.drop_colors(x, SEED).numpy()
    kept = [int(np.argmax([(np.abs(dropped[i, ..., c] - x.numpy()[i, ..., c]) < 1e-7).all()
                           for c in range(3)])) for i in range(4)]
    for i, c in enumerate(kept):
        np.testing.assert_array_equal(dropped[i, ..., c], x.numpy()[i, ..., c])
        others = np.delete(dropped[i], c, axis=-1)
        assert others.std() < 0.02 and abs(others.mean() - x.numpy()[i, ..., c].mean()) < 0.01
    grey = tiles.counter_chromatic_aberration(x, "grey", SEED, grey_probability=1.0).numpy()
    np.testing.assert_allclose(grey[..., 0], grey[..., 2])
    np.testing.assert_array_equal(tiles.counter_chromatic_aberration(x, "none", SEED), x)


# --- Jigsaw ---------------------------------------------------------------------------------


def test_reassembling_the_puzzle_by_the_inverse_permutation_recovers_the_grid():
    images = coordinate_image(32, 64)
    transform = augment.JigsawTransform(18, 3, 1, num_permutations=100, normalize=False,
                                        color_mode="none", channel_jitter=0)
    puzzles, labels = transform(images, SEED)
    _, s_tiles, _ = augment._random.split_seed(SEED, 3)
    grid, _ = tiles.grid_tiles(images, 3, 18, 3, 1, s_tiles)  # the tiles before shuffling
    restored = jigsaw.reassemble_tiles(puzzles, transform.permutations, labels)
    np.testing.assert_array_equal(restored, grid)
    # And the puzzle is shuffled as documented: puzzle[k] = tiles[p[k]].
    p = transform.permutations[labels.numpy()]
    np.testing.assert_array_equal(puzzles, np.take_along_axis(
        grid.numpy(), p[:, :, None, None, None], axis=1))
    assert (p != np.arange(9)).any(axis=1).sum() >= 30  # nearly all puzzles are shuffled
    # Reassembled tile k lies in cell k: its centre pixel names a row and column in that cell.
    centre = restored.numpy()[:, :, 9, 9, :2]
    np.testing.assert_array_equal(centre[..., 0] // 21, np.tile(np.arange(9) // 3, (32, 1)))
    np.testing.assert_array_equal(centre[..., 1] // 21, np.tile(np.arange(9) % 3, (32, 1)))


def test_the_shipped_permutation_set_is_algorithm_1_from_seed_0():
    shipped = jigsaw.jigsaw_permutations(jigsaw.MAX_SHIPPED)
    assert shipped.shape == (1000, 9)
    assert (np.sort(shipped, axis=1) == np.arange(9)).all()  # permutations of 0..8
    assert len({tuple(p) for p in shipped}) == 1000  # distinct
    regenerated = jigsaw.regenerate_permutations(100, seed=0)
    np.testing.assert_array_equal(jigsaw.jigsaw_permutations(100), regenerated)
    for p in (100, 1000):
        low, mean = jigsaw.hamming_distances(shipped[:p])
        print(f"P={p}: minimum Hamming distance {low}, mean {mean:.3f}")
        # Noroozi & Favaro 2016, table 1 ("maximal" selection): P=100 mean 8.08, minimum 2;
        # P=1000 mean 8.00, minimum 2.
        assert low == 2
        assert mean == pytest.approx(8.08 if p == 100 else 8.00, abs=0.01)
    low, mean = jigsaw.hamming_distances(regenerated)
    assert (low, mean) == jigsaw.hamming_distances(shipped[:100])


def test_greedy_selection_on_a_small_case_by_hand():
    """Algorithm 1 on 3 tiles (3! = 6 permutations), by hand: from (0, 1, 2) the largest summed
    distance is 3, taken by (1, 2, 0) and (2, 0, 1), the first in lexicographic order wins; then
    (2, 0, 1), at distance 3 from both."""
    every = list(itertools.permutations(range(3)))
    seed = next(s for s in range(100)
                if int(np.random.default_rng(s).integers(6)) == 0)  # starts at (0, 1, 2)
    chosen = jigsaw.regenerate_permutations(3, seed=seed, num_tiles=3)
    assert [tuple(p) for p in chosen] == [every[0], (1, 2, 0), (2, 0, 1)]


@pytest.mark.slow
def test_the_whole_shipped_set_regenerates():
    np.testing.assert_array_equal(jigsaw.regenerate_permutations(1000, seed=0),
                                  jigsaw.jigsaw_permutations(1000))


def test_jigsaw_shortcut_tile_statistics_give_the_permutation_away_unless_normalised():
    """A ramp image: without per-tile normalisation, sorting the puzzle's tiles by brightness reads
    off the permutation for every image (the task is trivial); normalised, all 9 tiles of a ramp
    are the same array, so nothing in the input tells one permutation from another."""
    images = gradient_image(64, 64)
    for normalize in (False, True):
        transform = augment.JigsawTransform(18, 3, 1, normalize=normalize, color_mode="none",
                                            channel_jitter=0)
        puzzles, labels = transform(images, SEED)
        puzzles = puzzles.numpy()
        p = transform.permutations[labels.numpy()]
        if not normalize:
            decoded = np.argsort(np.argsort(puzzles.mean(axis=(2, 3, 4)), axis=1), axis=1)
            np.testing.assert_array_equal(decoded, p)  # tile at position k is cell p[k]
        else:
            np.testing.assert_allclose(puzzles, np.broadcast_to(puzzles[:, :1], puzzles.shape),
                                       atol=1e-4)
            np.testing.assert_allclose(puzzles.mean(axis=(2, 3, 4)), 0.0, atol=1e-5)


# --- Context Prediction ---------------------------------------------------------------------


def test_the_context_label_names_the_neighbour_the_patch_came_from():
    """Pixels that name their place: the pair is the image's slice at the returned positions, both
    inside the image, the neighbour one cell (+- the two jitters) away in the label's direction;
    the first patch is not always the same cell."""
    images = coordinate_image(512, 64)
    transform = augment.ContextPredictionTransform(18, 3, 1, normalize=False, color_mode="none",
                                                   pixelation_probability=0)
    pairs, labels = transform(images, SEED)
    pairs, labels = pairs.numpy(), labels.numpy()
    assert pairs.shape == (512, 2, 18, 18, 3)
    corner = pairs[:, :, 0, 0, :2].astype(int)  # (row, column) of each patch's top-left pixel
    np.testing.assert_array_equal(pairs[:, :, -1, -1, :2], corner + 17)
    assert corner.min() >= 0 and corner.max() + 18 <= 64
    offsets = np.array(context.NEIGHBOUR_OFFSETS)[labels]
    np.testing.assert_array_less(np.abs(corner[:, 1] - corner[:, 0] - 21 * offsets), 2 * 1 + 1)
    assert context.NEIGHBOUR_OFFSETS[0] == (-1, -1) and context.NEIGHBOUR_OFFSETS[4] == (0, 1)
    assert context.NEIGHBOUR_OFFSETS[6] == (1, 0)
    assert set(labels) == set(range(8))
    # The first patch anywhere: its row takes values of all three cells of a 64-pixel side.
    assert corner[:, 0, 0].min() <= 2 and corner[:, 0, 0].max() >= 42
    same, _ = transform(images, SEED)
    np.testing.assert_array_equal(same, pairs)  # stateless


OFFSETS = np.array(context.NEIGHBOUR_OFFSETS)


def train_py_position_label_distribution(size, tile, gap, jitter, patch):
    """P(patch's (y, x), label) float64 [P, P, 8] of the pairs the authors' train.py (imgloader,
    sample_patch) trains on from a size x size image: the grid's offset uniform in [0, cell) per
    axis, every ordered neighbour pair of the grid, jitter uniform, clamped into the image.
    `patch` 0: the first patch's position, 1: the neighbour's. Each axis adds up on its own."""
    cell = tile + gap
    counts = np.zeros((3, size - tile + 1))  # [offset along the axis + 1, position]
    for offset in range(cell):
        n = (size + gap - offset) // cell
        for r in range(n):
            for d in (-1, 0, 1):
                if 0 <= r + d < n:
                    p = offset + (r + d * patch) * cell + np.arange(-jitter, jitter + 1)
                    np.add.at(counts[d + 1], np.clip(p, 0, size - tile), 1.0)
    joint = counts[OFFSETS[:, 0] + 1][:, :, None] * counts[OFFSETS[:, 1] + 1][:, None, :]
    return np.moveaxis(joint / joint.sum(), 0, -1)


def _position_lookup_accuracy(positions, labels, cell=16):
    """A position-only cue: the most frequent label of each 16-pixel cell of the patch's (y, x),
    fit on one half of the pairs and scored on the other."""
    key = positions[:, 0] // cell * 10000 + positions[:, 1] // cell
    half = len(labels) // 2
    keys, index = np.unique(key, return_inverse=True)
    table = np.zeros((len(keys), 8))
    np.add.at(table, (index[:half], labels[:half]), 1)
    return (table.argmax(1)[index[half:]] == labels[half:]).mean()


def test_one_patch_position_tells_the_label_only_by_the_image_edges():
    """On the ImageNet recipe's geometry (448 pixels, 96 / 48 / 7), a cue that knows one patch's
    absolute position (vignetting, chromatic aberration, composition) predicts the label no better
    than the edge effect allows: a lookup from 16-pixel cells of the first patch's or the
    neighbour's position is right 26.4% of the time, the Bayes bound of train.py's sampling is
    26.5% (the most frequent label 15.7%, chance 12.5%). With the fixed centre patch the
    neighbour's position gave the label away (lookup accuracy 1.0). Both positions together always
    do: their difference is the label."""
    from keras_ssl.cli.config import load_recipe

    config = load_recipe("context_prediction_imagenet")
    a, size = config.augment, config.data.image_size
    positions, labels = context.pair_positions((400_000, size, size, 3), a.tile_size, a.gap,
                                               a.jitter, SEED)
    positions, labels = positions.numpy(), labels.numpy()
    cell = a.tile_size + a.gap
    np.testing.assert_array_less(np.abs(positions[:, 1] - positions[:, 0] - cell * OFFSETS[labels]),
                                 2 * a.jitter + 1)
    for patch in (0, 1):
        exact = train_py_position_label_distribution(size, a.tile_size, a.gap, a.jitter, patch)
        bayes = exact.max(axis=-1).sum()
        assert 0.26 < bayes < 0.27 and abs(exact.sum(axis=(0, 1)).max() - 0.157) < 1e-3
        # The sampler draws train.py's pairs: its (row, label) and (column, label) histograms in
        # 8-pixel bins are within sampling noise (total variation ~0.01 at 400k) of the exact one.
        for axis in (0, 1):
            bins = np.arange(exact.shape[0]) // 8
            want = np.zeros((bins.max() + 1, 8))
            np.add.at(want, bins, exact.sum(axis=1 - axis))
            got = np.zeros_like(want)
            np.add.at(got, (positions[:, patch, axis] // 8, labels), 1.0 / len(labels))
            assert 0.5 * np.abs(got - want).sum() < 0.02, (patch, axis)
        accuracy = _position_lookup_accuracy(positions[:, patch], labels)
        print(f"patch {patch}: position lookup {accuracy:.4f}, Bayes bound {bayes:.4f}")
        assert accuracy < 0.28


def test_context_drop_colors_per_patch_with_noise_that_tells_nothing_of_the_image():
    """color_mode="drop" as train.py's prep_image: each patch keeps its own channel (the two
    patches of a pair differ in about 2/3 of the pairs), minus its own mean; the dropped channels
    are the same noise whatever the image (so after normalisation they carry nothing of the
    patch's brightness against the image's, which a ramp or a vignette would turn into position)."""
    ramp = gradient_image(512, 64)
    noise = tf.constant(np.random.default_rng(0).uniform(0, 1, (512, 64, 64, 3)), tf.float32)
    transform = augment.ContextPredictionTransform(18, 3, 1, normalize=False, color_mode="drop",
                                                   pixelation_probability=0)
    plain = augment.ContextPredictionTransform(18, 3, 1, normalize=False, color_mode="none",
                                               pixelation_probability=0)
    dropped, labels = transform(ramp, SEED)
    other, other_labels = transform(noise, SEED)
    original, _ = plain(ramp, SEED)  # same seed, same pairs (the sampler does not see colours)
    dropped, other, original = dropped.numpy(), other.numpy(), original.numpy()
    np.testing.assert_array_equal(labels, other_labels)
    centred = original - original.mean(axis=(2, 3), keepdims=True)
    kept = np.argmin(np.abs(dropped - centred).max(axis=(2, 3)), axis=-1)  # [B, 2]
    noise = []
    for i in range(len(labels)):
        for j in range(2):
            np.testing.assert_allclose(dropped[i, j, ..., kept[i, j]],
                                       centred[i, j, ..., kept[i, j]], atol=1e-6)
            rest = np.delete(np.arange(3), kept[i, j])
            # The other two channels: identical for the ramp and for random images.
            np.testing.assert_array_equal(dropped[i, j, ..., rest], other[i, j, ..., rest])
            noise.append(dropped[i, j, ..., rest])
    assert 0.6 < (kept[:, 0] != kept[:, 1]).mean() < 0.73
    assert np.abs(dropped.mean(axis=(2, 3))).max() < 1e-3  # nothing of the patch's brightness
    np.testing.assert_allclose(np.std(noise), context.DROP_NOISE_STDDEV, rtol=0.01)


def test_the_context_head_has_the_papers_depth():
    """fc6 per patch, then fc7 and fc8 of 4096 and the 8-way fc9 (figure 3; train.py's gen_net), in
    the class, the registry and the ImageNet recipe."""
    import inspect

    from keras_ssl.cli.config import load_recipe

    default = inspect.signature(ContextPrediction).parameters["head_hidden_dims"].default
    recipe = load_recipe("context_prediction_imagenet").model
    for hidden in (default, base_config("context_prediction").model.head_hidden_dims,
                   recipe.head_hidden_dims):
        assert tuple(hidden) == (4096, 4096)
    assert recipe.tile_dim == 4096
    model = ContextPrediction(tiny_encoder(32), tile_dim=8, head_hidden_dims=(16, 12))
    model.build((None, 2, 8, 8, 3))
    head = model.classifier.head
    dense = [layer.units for layer in head.hidden if isinstance(layer, keras.layers.Dense)]
    assert [model.classifier.tile_dense.units, *dense, head.out.units] == [8, 16, 12, 8]


def test_context_shortcut_a_ramp_gives_the_position_away_unless_patches_are_normalised():
    """A ramp image: with the counter-measure off, the difference of the two patches' mean
    brightness names the neighbour for every pair (a nearest-centroid rule is always right); with
    per-patch normalisation the two patches are the same array whatever the label."""
    images = gradient_image(512, 64)
    for normalize in (False, True):
        transform = augment.ContextPredictionTransform(18, 3, 1, normalize=normalize,
                                                       color_mode="none", pixelation_probability=0)
        pairs, labels = transform(images, SEED)
        pairs, labels = pairs.numpy(), labels.numpy()
        if not normalize:
            feature = pairs[:, 1].mean(axis=(1, 2, 3)) - pairs[:, 0].mean(axis=(1, 2, 3))
            centroids = np.array([feature[labels == k].mean() for k in range(8)])
            predicted = np.argmin(np.abs(feature[:, None] - centroids[None]), axis=1)
            assert (predicted == labels).mean() == 1.0
        else:
            np.testing.assert_allclose(pairs[:, 1], pairs[:, 0], atol=1e-4)


# --- Counting -------------------------------------------------------------------------------


def test_counting_tiles_are_the_quadrants_and_d_is_the_whole_image_downsampled():
    rng = np.random.default_rng(0)
    x = rng.random((6, 16, 16, 3)).astype(np.float32)
    tiles_, down = counting.counting_views(tf.constant(x), SEED, random_filter=False)
    tiles_, down = tiles_.numpy(), down.numpy()
    assert tiles_.shape == (6, 4, 8, 8, 3) and down.shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(tiles_[:, 0], x[:, :8, :8])
    np.testing.assert_array_equal(tiles_[:, 1], x[:, :8, 8:])
    np.testing.assert_array_equal(tiles_[:, 2], x[:, 8:, :8])
    np.testing.assert_array_equal(tiles_[:, 3], x[:, 8:, 8:])
    # Together the tiles are the image, no pixel left out or shared.
    top = np.concatenate([tiles_[:, 0], tiles_[:, 1]], axis=2)
    bottom = np.concatenate([tiles_[:, 2], tiles_[:, 3]], axis=2)
    np.testing.assert_array_equal(np.concatenate([top, bottom], axis=1), x)
    # D with area averaging: each output pixel the mean of a 2x2 block of the whole image.
    reference = x.reshape(6, 8, 2, 8, 2, 3).astype(np.float64).mean(axis=(2, 4))
    np.testing.assert_allclose(down, reference, atol=1e-6)
    # The random filter picks one of the paper's filters per image, all of them over a batch.
    _, random_down = counting.counting_views(tf.constant(np.repeat(x[:1], 64, 0)), SEED)
    candidates = [tf.image.resize(x[:1], [8, 8], method=m, antialias=True).numpy()[0]
                  for m in counting.DOWNSAMPLING_FILTERS]
    used = set()
    for image in random_down.numpy():
        match = [i for i, c in enumerate(candidates)
                 if np.allclose(image, np.clip(c, x[:1].min(), x[:1].max()), atol=1e-6)]
        assert match
        used.add(match[0])
    assert used == set(range(len(counting.DOWNSAMPLING_FILTERS)))


def test_counting_loss_equals_numpy_float64():
    rng = np.random.default_rng(1)
    down = rng.random((8, 5)) * 1.5
    tiles_ = rng.random((8, 4, 5)) * 0.4
    margin = 10.0
    loss, own, margin_term, contrast = (v.numpy() for v in counting_loss(
        tf.constant(down, tf.float32), tf.constant(tiles_, tf.float32), margin))
    t = tiles_.sum(axis=1)
    own_ref = ((down - t) ** 2).sum(-1)
    y = np.roll(down, -1, axis=0)  # image i is contrasted with image i + 1
    contrast_ref = ((y - t) ** 2).sum(-1)
    margin_ref = np.maximum(0.0, margin - contrast_ref)
    assert (contrast_ref < margin).any()  # the margin term is exercised, and clipped elsewhere
    np.testing.assert_allclose(own, own_ref, rtol=1e-5)
    np.testing.assert_allclose(contrast, contrast_ref, rtol=1e-5)
    np.testing.assert_allclose(margin_term, margin_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss, own_ref + margin_ref, rtol=1e-5)
    _, _, large, _ = counting_loss(tf.constant(down, tf.float32), tf.constant(tiles_, tf.float32),
                                   0.1)
    assert (large.numpy() == np.maximum(0, 0.1 - contrast_ref).astype(np.float32)).all()


def test_counting_shortcut_collapse_solves_the_task_without_the_margin_term():
    """phi = 0 for every input is the trivial solution of phi(D(x)) = sum_j phi(T_j(x)): with the
    margin term off (M = 0) its loss is 0, the best possible, and it says nothing of the image; with
    the paper's M = 10 every collapsed phi (a constant c for all inputs) costs at least M, more than
    counts that tell images apart (here one image's D(x) equal to its own tiles' sum and far from
    the next image's)."""
    k = 6
    for c in (0.0, 0.1, 0.5, 2.0):
        collapsed_down = tf.fill([8, k], c)
        collapsed_tiles = tf.fill([8, 4, k], c)
        off, *_ = counting_loss(collapsed_down, collapsed_tiles, 0.0)
        on, *_ = counting_loss(collapsed_down, collapsed_tiles, 10.0)
        np.testing.assert_allclose(off, 9 * k * c ** 2, rtol=1e-6)  # |c - 4c|^2
        assert (on.numpy() >= 10.0 - 1e-5).all()
    np.testing.assert_allclose(counting_loss(tf.zeros([8, k]), tf.zeros([8, 4, k]), 0.0)[0], 0.0)
    good_tiles = tf.constant(np.eye(8)[:, None, :].repeat(4, 1) * 1.0, tf.float32)
    good_down = tf.reduce_sum(good_tiles, axis=1)  # exact additivity; images 4 apart in count
    good, *_ = counting_loss(good_down, good_tiles, 10.0)
    assert good.numpy().max() < 10.0 - 1e-3


# --- cross-entropy and the models -----------------------------------------------------------


def test_cross_entropy_equals_numpy_float64_on_known_logits():
    logits = np.array([[2.0, -1.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [-3.0, 4.0, 1.0, 2.0]])
    labels = np.array([0, 2, 3])
    loss, accuracy = cross_entropy_and_accuracy(tf.constant(logits, tf.float32),
                                                tf.constant(labels))
    reference = np.mean(logsumexp(logits, axis=1) - logits[np.arange(3), labels])
    np.testing.assert_allclose(float(loss), reference, rtol=1e-6)
    # Row 0 right; row 1 ties (argmax 0, label 2): wrong; row 2 argmax 1, label 3: wrong.
    assert float(accuracy) == pytest.approx(1 / 3)


def tiny_encoder(size):
    return ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(size, size, 3))


@pytest.mark.parametrize("name", ["jigsaw", "context_prediction", "counting"])
def test_the_method_trains_on_tiles_and_embeds_whole_images(name, tmp_path):
    keras.utils.set_random_seed(0)
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)), tf.uint8)
    if name == "jigsaw":
        model = Jigsaw(tiny_encoder(32), num_permutations=10, tile_dim=8, head_hidden_dims=(16,))
        batch = augment.JigsawTransform(8, 2, 1, num_permutations=10)(images, SEED)
    elif name == "context_prediction":
        model = ContextPrediction(tiny_encoder(32), tile_dim=8, head_hidden_dims=(16,))
        batch = augment.ContextPredictionTransform(8, 2, 1)(images, SEED)
    else:
        model = Counting(tiny_encoder(32), num_counts=12, head_hidden_dims=(16,))
        batch = augment.CountingTransform()(images, SEED)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1, shuffle=False,
                        verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    whole = tf.cast(images, tf.float32) / 255.0
    assert model(whole).shape == (16, model.encoder.output_shape[-1])
    # Independently of `call`: a fresh encoder of the same architecture with the trained weights
    # loaded from a file, on images standardised in NumPy float64 (Jigsaw and Context Prediction
    # normalise their tiles, so whole images are standardised too; Counting's tiles are raw).
    seen = standardized_float64(whole.numpy()) if name != "counting" else whole.numpy()
    path = str(tmp_path / "tile_encoder.weights.h5")
    model.base_encoder.save_weights(path)
    rebuilt = tiny_encoder(32)
    untrained = rebuilt(seen.astype(np.float32))
    rebuilt.load_weights(path)
    np.testing.assert_allclose(model(whole), rebuilt(seen.astype(np.float32)), atol=1e-5)
    # Without the loaded weights the reference differs: the comparison can fail.
    assert np.abs(np.asarray(model(whole)) - np.asarray(untrained)).max() > 1e-3


def standardized_float64(images):
    x = np.asarray(images, np.float64)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-3 ** 2)


def test_standardized_input_equals_numpy_float64():
    images = np.random.default_rng(1).uniform(0, 1, (3, 9, 7, 3)).astype(np.float32)
    images[2] = 0.5  # a constant image becomes 0
    out = layers.StandardizedInput()(images)
    np.testing.assert_allclose(out, standardized_float64(images), atol=1e-5)
    assert np.abs(out[2]).max() == 0


def test_standardizing_whole_images_follows_the_tiles_normalisation_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(2).uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)
    model = Jigsaw(tiny_encoder(32), num_permutations=10, tile_dim=8, head_hidden_dims=(16,))
    assert model.encoder.get_layer("standardize")
    raw = Jigsaw(tiny_encoder(32), num_permutations=10, tile_dim=8, head_hidden_dims=(16,),
                 standardize_images=False)
    assert raw.encoder is raw.base_encoder
    # A brighter, higher-contrast copy of an image embeds as the image: what normalised tiles
    # taught the encoder to ignore.
    np.testing.assert_allclose(model(images), model(0.2 + 0.5 * images), atol=1e-4)
    path = str(tmp_path / "encoder.keras")
    model.encoder.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path)(images), model(images), atol=1e-6)
    restored = Jigsaw.from_config(model.get_config())
    assert restored.standardize_images and restored.encoder.get_layer("standardize")


def test_preview_draws_each_task_as_a_person_would_look_at_it(tiny_cifar10, tmp_path):
    from keras_ssl.cli.config import load_recipe
    from keras_ssl.cli.preview import preview
    from keras_ssl.methods import registry

    for name in ("jigsaw", "context_prediction", "counting"):
        config = load_recipe(f"quickstart_{name}")
        config.data.source = f"folder:{tiny_cifar10}"
        assert preview(config, str(tmp_path / f"{name}.png"), num_images=2)
        images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype(np.uint8)
        transform = registry.get(name).views(config)
        columns = dict(registry.get(name).preview(transform, images / 255.0,
                                                  transform(images, SEED)))
        for title, column in columns.items():
            assert np.asarray(column).shape[0] == 2 and np.asarray(column).shape[-1] == 3, title
    # Jigsaw's last column is the grid put back: equal to the tiles before shuffling, drawn.
    config = load_recipe("quickstart_jigsaw")
    config.augment.normalize = False
    config.augment.crop_scale = None
    # Not the shipped set: the preview must read the transform's own permutations.
    config.augment.permutation_seed, config.augment.num_permutations = 1, 10
    images = coordinate_image(2, 64)
    transform = registry.get("jigsaw").views(config)
    puzzles, labels = transform(images, SEED)
    restored = registry.get("jigsaw").preview(transform, images, (puzzles, labels))[-1][1]
    _, s_tiles, _ = augment._random.split_seed(SEED, 3)
    grid, _ = tiles.grid_tiles(augment.tiles.counter_chromatic_aberration(
        images, "grey", augment._random.split_seed(SEED, 3)[0], 0.3), 3, 18, 3, 1, s_tiles)
    from keras_ssl.methods.patch_grid import mosaic
    np.testing.assert_allclose(restored, mosaic(grid, 3, 2), atol=1e-6)


def block_grid_image(batch, size=64, period=16):
    """Lines every `period` pixels, as JPEG's 8x8 blocks of a 2x upsampled CIFAR image leave."""
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    lines = ((y % period == 0) | (x % period == 0)).astype(np.float32)
    return tf.constant(np.repeat(np.repeat(lines[None, ..., None], 3, -1), batch, 0))


def _phase_lookup_accuracy(pairs, labels):
    """Decode the label from where the block lines fall in the two patches: a lookup table from
    the (row, column) phase differences to the most frequent label, fit on one half of the pairs
    and scored on the other."""
    def phase(patches):
        rows = patches[..., 0].mean(axis=2)  # [N, t]: row means; a line row stands out
        cols = patches[..., 0].mean(axis=1)
        return np.argmax(rows, axis=1), np.argmax(cols, axis=1)
    cy, cx = phase(pairs[:, 0])
    ny, nx = phase(pairs[:, 1])
    keys = list(zip(ny - cy, nx - cx))
    half = len(keys) // 2
    table = {}
    for key, label in zip(keys[:half], labels[:half]):
        table.setdefault(key, []).append(label)
    table = {k: np.bincount(v).argmax() for k, v in table.items()}
    return np.mean([table.get(k, -1) == label for k, label in zip(keys[half:], labels[half:])])


def test_context_shortcut_block_phase_gives_the_position_away_unless_rescaled():
    """Lines every 16 pixels (JPEG blocks of CIFAR upsampled to 64): at a fixed scale where the
    lines fall in the two patches names the neighbour most of the time (the difference of their
    phases is the relative offset modulo 16, whatever the grid's offset: 86% here, 95% with the
    former fixed grid); a random resized crop first (`crop_scale`) moves and rescales the lines
    per image, and the same rule does far worse."""
    images = block_grid_image(2048)
    accuracy = {}
    for crop_scale in (None, (0.5, 1.0)):
        transform = augment.ContextPredictionTransform(18, 3, 1, normalize=False,
                                                       color_mode="none", crop_scale=crop_scale,
                                                       pixelation_probability=0)
        pairs, labels = transform(images, SEED)
        accuracy[crop_scale] = _phase_lookup_accuracy(pairs.numpy(), labels.numpy())
    print("block-phase rule accuracy:", accuracy)
    assert accuracy[None] > 0.8
    assert accuracy[(0.5, 1.0)] < 0.6


def test_registered_grids_are_the_papers_proportions_of_the_image_size():
    from keras_ssl.methods import context_prediction as cp_module
    from keras_ssl.methods import jigsaw as jigsaw_module

    for size, jig, ctx in [(32, (9, 1, 0), (7, 3, 1)), (64, (18, 3, 1), (14, 7, 1)),
                           (225, (64, 11, 5), (50, 25, 4)), (432, (122, 22, 10), (96, 48, 7))]:
        for module, name, expected in [(jigsaw_module, "jigsaw", jig),
                                       (cp_module, "context_prediction", ctx)]:
            config = base_config(name)
            config.data.image_size = size
            validate_config(config)  # the resolved grid fits
            a = module._arguments(config)
            assert (a["tile_size"], a["gap"], a["jitter"]) == expected, (name, size)
    # The shortcut counter-measures' pixel sizes scale too: Jigsaw's channel jitter 2 of 225
    # (whole pixels: off below 113), Context Prediction's 100 pixels of a 96-pixel patch.
    for size, channel_jitter, min_pixels in [(64, 0, 2), (225, 2, 27), (432, 3, 100)]:
        config = base_config("jigsaw")
        config.data.image_size = size
        assert jigsaw_module._arguments(config)["channel_jitter"] == channel_jitter
        config = base_config("context_prediction")
        config.data.image_size = size
        assert cp_module._arguments(config)["min_pixels"] == min_pixels
    # At the papers' own sizes the proportions give back their numbers: Jigsaw 64 / 11 / 5 in a
    # 225 crop, Context Prediction 96 / 48 / 7 in a 432 grid.


# --- pixelation (Doersch et al. 2015) and channel jitter (Noroozi & Favaro 2016) -------------


def pixelate(images, probability):
    return tiles.random_pixelation(images, SEED, probability, min_pixels=100).numpy()


def test_pixelation_is_a_down_and_up_sampling_to_at_least_min_pixels_for_a_share_of_tiles():
    patches = np.random.default_rng(4).uniform(0, 1, (6, 50, 18, 18, 3)).astype(np.float32)
    out = pixelate(patches, probability=1.0)
    assert out.shape == patches.shape
    sides = set()
    for tile, pixelated in zip(patches.reshape(-1, 18, 18, 3)[:40], out.reshape(-1, 18, 18, 3)):
        errors = {}
        for side in range(2, 18):
            small = tf.image.resize(tile[None], [side, side], method="area")
            errors[side] = np.abs(tf.image.resize(small, [18, 18])[0] - pixelated).max()
        side = min(errors, key=errors.get)
        assert errors[side] < 1e-6 and 100 <= side * side <= 17 * 17
        sides.add(side)
        assert np.var(pixelated) < np.var(tile)  # fine detail is lost
    assert len(sides) > 2
    np.testing.assert_array_equal(pixelate(patches, probability=0.0), patches)
    changed = np.abs(pixelate(patches, 1 / 3) - patches).reshape(300, -1).max(axis=1) > 0
    assert 0.25 < changed.mean() < 0.42  # a third of 300 tiles, within 3 standard deviations


def test_channel_jitter_moves_each_channel_of_each_tile_by_its_own_offset():
    patches = np.random.default_rng(5).uniform(0, 1, (4, 9, 12, 12, 3)).astype(np.float32)
    out = tiles.jitter_channels(patches, SEED, max_shift=2).numpy()
    padded = np.pad(patches, [(0, 0), (0, 0), (2, 2), (2, 2), (0, 0)], mode="symmetric")
    offsets = np.zeros(patches.shape[:2] + (3,), object)
    for b, t, c in itertools.product(range(4), range(9), range(3)):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(out[b, t, :, :, c],
                                   padded[b, t, 2 + dy:14 + dy, 2 + dx:14 + dx, c])]
        assert len(found) == 1
        offsets[b, t, c] = found[0]
    assert len(set(offsets.ravel())) > 15  # the 25 offsets drawn
    assert any(len(set(offsets[b, t])) > 1 for b in range(4) for t in range(9))  # per channel
    np.testing.assert_array_equal(tiles.jitter_channels(patches, SEED, max_shift=0), patches)


def test_jigsaw_jitters_the_channels_of_colour_images_only():
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (8, 64, 64, 3)).astype(np.uint8)
    images[:4] = images[:4, :, :, :1]  # grey
    def puzzles(channel_jitter):
        transform = augment.JigsawTransform(18, 3, 1, num_permutations=10, normalize=False,
                                            color_mode="none", channel_jitter=channel_jitter)
        return transform(tf.constant(images), SEED)[0].numpy()
    plain, jittered = puzzles(0), puzzles(2)
    np.testing.assert_array_equal(jittered[:4], plain[:4])
    assert (np.abs(jittered[4:] - plain[4:]).reshape(4, -1).max(axis=1) > 0).all()
