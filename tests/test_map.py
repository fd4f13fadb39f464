"""`textvae map` end to end on a tiny text model and a tiny image model (the PNG, the CSV beside it,
--neighbours), the map a text training leaves, and the shared projection/plot code of textvae.latent_map."""

import csv

import numpy as np
import pytest
from conftest import IMAGE_SAMPLE as SAMPLE
from conftest import run_cli
from PIL import Image

from textvae.latent_map import Marks, draw_map, nearest_codes, project, spread_points

MAP_SIZE = (800, 650)  # draw_map's default 8 x 6.5 inches at 100 dpi


@pytest.fixture(scope="module")
def text_model(text_run):
    return text_run  # conftest's tiny text run


@pytest.fixture(scope="module")
def labelled(corpus, tmp_path_factory):
    """The training sentences in a CSV with a label column (their first word) and a blank row."""
    path = tmp_path_factory.mktemp("map-data") / "labelled.csv"
    sentences = (corpus / "train.txt").read_text(encoding="utf-8").splitlines()
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for k, s in enumerate(sentences):
            w.writerow([s, s.split()[0]])
            if k == 5:
                w.writerow(["", "nothing"])
    return path, sentences


@pytest.fixture(scope="module")
def image_model(image_run):
    return image_run  # conftest's tiny image run


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def png_size(path):
    with Image.open(path) as im:
        return im.size


def test_text_training_leaves_a_latent_map_of_its_validation_sentences(text_model, corpus):
    valid = (corpus / "valid.txt").read_text(encoding="utf-8").splitlines()
    assert png_size(text_model / "latent_map.png") == MAP_SIZE
    header, rows = read_csv(text_model / "latent_map.csv")
    assert header == ["x", "y", "length", "text"]
    assert [r[3] for r in rows] == valid  # every validation sentence, in order
    assert [int(r[2]) for r in rows] == [len(s.split()) for s in valid]
    assert np.isfinite(np.array([[float(r[0]), float(r[1])] for r in rows])).all()


def test_map_by_label_with_neighbours(text_model, labelled, tmp_path):
    data, sentences = labelled
    out = tmp_path / "maps" / "label.png"
    query = sentences[7]
    proc = run_cli(
        "map", text_model, "--data", data, "--column", "label", "--output", out, "--neighbours", query, "-k", "3"
    )
    assert png_size(out) == MAP_SIZE
    header, rows = read_csv(out.with_suffix(".csv"))
    assert header == ["x", "y", "row", "label", "text"]
    assert [r[4] for r in rows] == sentences  # the blank row is not a point
    assert [r[3] for r in rows] == [s.split()[0] for s in sentences]
    assert [int(r[2]) for r in rows] == list(range(6)) + list(range(7, len(sentences) + 1))  # rows of the file
    lines = proc.stdout.splitlines()
    cos, euc = (
        lines.index("  by cosine similarity, codes centred on their mean (higher is nearer):"),
        lines.index("  by Euclidean distance (lower is nearer):"),
    )
    assert euc - cos == 4 and len(lines) == euc + 4
    # the query is one of the data's sentences: its own code is the nearest, at distance 0
    first_cos, first_euc = lines[cos + 1].split(None, 1), lines[euc + 1].split(None, 1)
    assert float(first_cos[0]) == pytest.approx(1.0, abs=1e-4)
    assert float(first_euc[0]) == pytest.approx(0.0, abs=1e-4)
    said = {s.strip() for s in sentences}
    assert all(line.split(None, 1)[1] in said for line in lines[cos + 1 : euc] + lines[euc + 1 :])
    scores = [float(line.split()[0]) for line in lines[euc + 1 :]]
    assert scores == sorted(scores)


def test_map_by_length_with_tsne_on_a_subset(text_model, labelled, tmp_path):
    data, _ = labelled
    out = tmp_path / "len.png"
    run_cli("map", text_model, "--data", data, "--method", "tsne", "--max-points", "40", "--output", out)
    header, rows = read_csv(out.with_suffix(".csv"))
    assert header == ["x", "y", "row", "length", "text"] and len(rows) == 40
    assert [int(r[3]) for r in rows] == [len(r[4].split()) for r in rows]
    assert len({r[2] for r in rows}) == 40  # 40 different rows of the file
    assert png_size(out) == MAP_SIZE


def test_map_with_umap_or_a_line_naming_the_extra(text_model, labelled, tmp_path):
    data, _ = labelled
    proc = run_cli(
        "map",
        text_model,
        "--data",
        data,
        "--method",
        "umap",
        "--max-points",
        "60",
        "--output",
        tmp_path / "u.png",
        check=False,
    )
    try:
        import umap  # noqa: F401
    except ImportError:
        assert proc.returncode == 2 and "umap-learn" in proc.stderr and len(proc.stderr.splitlines()) == 1
    else:
        assert proc.returncode == 0, proc.stderr
        assert len(read_csv(tmp_path / "u.csv")[1]) == 60


@pytest.mark.parametrize(
    "args, message",
    [
        (["--column", "nope"], "has no column 'nope'"),
        (["--color", "commas"], "--color 'commas'"),
        (["--attribute", "length"], "has no attribute 'length'"),
        (["--output", "map.jpg"], "should end in .png"),
        (["--max-points", "1"], "--max-points must be >= 2"),
    ],
)
def test_map_refuses_bad_options_in_one_line(text_model, labelled, tmp_path, args, message):
    data, _ = labelled
    if "--output" not in args:
        args = [*args, "--output", str(tmp_path / "m.png")]
    proc = run_cli("map", text_model, "--data", data, *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not (tmp_path / "m.png").exists()


def test_image_map_by_class_and_by_ink(image_model, tmp_path):
    from textvae.image.data import ImageDataConfig, load_splits

    labels = load_splits(ImageDataConfig(path=str(SAMPLE), val_size=64)).test[1].tolist()
    out = tmp_path / "fm.png"
    run_cli("map", image_model, "--output", out)
    assert png_size(out) == MAP_SIZE
    header, rows = read_csv(out.with_suffix(".csv"))
    assert header == ["x", "y", "index", "label", "class"] and len(rows) == 100
    assert [int(r[3]) for r in rows] == labels
    assert {r[4] for r in rows} <= {
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    }
    run_cli("map", image_model, "--color", "ink", "--max-points", "30", "--output", tmp_path / "ink.png")
    header, rows = read_csv(tmp_path / "ink.csv")
    assert header[-1] == "ink" and len(rows) == 30 and all(0 <= float(r[-1]) <= 1 for r in rows)
    proc = run_cli("map", image_model, "--neighbours", "a sentence", "--output", tmp_path / "x.png", check=False)
    assert proc.returncode == 2 and "for text models" in proc.stderr


# -- textvae.latent_map ---------------------------------------------------------------------------------
def test_pca_inverse_lands_back_on_the_point_and_a_2d_latent_is_kept():
    codes = np.random.default_rng(0).normal(size=(200, 6)) * np.array([3, 2, 1, 0.5, 0.2, 0.1])
    proj = project(codes, "pca")
    for i in (0, 17, 199):
        z, how = proj.to_code(*proj.xy[i])
        assert "PCA" in how
        assert np.allclose((z - proj.mean) @ proj.components.T, proj.xy[i], atol=1e-4)
    flat = project(codes[:, :2], "tsne")  # 2-D: the codes themselves whatever the method
    assert flat.method == "latent" and np.array_equal(flat.xy, codes[:, :2])
    assert np.allclose(flat.to_code(1.5, -2.0)[0], [1.5, -2.0])


def test_tsne_inverse_is_the_mean_of_the_nearest_points_codes():
    codes = np.random.default_rng(1).normal(size=(60, 5))
    proj = project(codes, "tsne")
    z, how = proj.to_code(*proj.xy[3])
    d = ((proj.xy - proj.xy[3]) ** 2).sum(1)
    assert "mean code of the 10 nearest" in how
    assert np.allclose(z, codes[np.argsort(d)[:10]].mean(0), atol=1e-5)


def test_nearest_codes_and_spread_points():
    codes = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.1], [-1.0, 0.0]])
    assert [i for i, _ in nearest_codes(codes, [1.0, 0.0], 4, "cosine")] == [0, 2, 1, 3]
    assert [i for i, _ in nearest_codes(codes, [1.9, 0.0], 4, "euclidean")] == [2, 0, 1, 3]
    xy = np.random.default_rng(2).normal(size=(100, 2))
    chosen = spread_points(xy, range(100), 8)
    assert len(set(chosen)) == 8
    gaps = [np.min([np.linalg.norm(xy[a] - xy[b]) for b in chosen if b != a]) for a in chosen]
    random_gaps = [np.min([np.linalg.norm(xy[a] - xy[b]) for b in range(8) if b != a]) for a in range(8)]
    assert np.mean(gaps) > np.mean(random_gaps)  # spread over the map, not a clump


def test_the_frame_maps_a_pixel_of_the_png_back_to_the_map(tmp_path):
    """Draw a red star at a known point; the reddest pixel of the PNG maps back to that point."""
    xy = np.random.default_rng(3).normal(size=(300, 2)) * [4, 1]
    proj = project(np.c_[xy, xy[:, :1] * 0.1], "pca")
    star = (float(proj.xy[:, 0].max() * 0.5), float(proj.xy[:, 1].min() * 0.5))
    frame = draw_map(proj, tmp_path / "m.png", "test", marks=Marks(stars=[(*star, "")]))
    arr = np.asarray(Image.open(tmp_path / "m.png").convert("RGB")).astype(int)
    assert arr.shape[:2] == (frame.height, frame.width) == (650, 800)
    red = (arr[..., 0] > 200) & (arr[..., 1] < 60) & (arr[..., 2] < 60)
    py, px = np.argwhere(red).mean(0)
    x, y = frame.to_xy(px, py)
    span = np.ptp(proj.xy, 0)
    assert abs(x - star[0]) < 0.01 * span[0] and abs(y - star[1]) < 0.015 * span[1]
    assert frame.to_xy(1, 1) is None
    assert np.allclose(frame.to_xy(*frame.to_pixel(*star)), star)
