"""``tinyicenet export CKPT --out DIR``: ONNX + QONNX + integer reference + golden files."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        checkpoint: Path = typer.Argument(..., help="A tinyicenet checkpoint (.pt)."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder to write (replaced atomically)."),
        tile: int = typer.Option(256, "--tile", min=1,
                                 help="Tile side of the QONNX graph and the golden files."),
        random_tiles: int = typer.Option(4, "--random-tiles", min=0,
                                         help="Fresh random golden/check tiles."),
        scene: Path = typer.Option(None, "--scene",
                                   help="A scene file or folder to cut more golden tiles from."),
        scene_tiles: int = typer.Option(None, "--scene-tiles", min=0,
                                        help="Tiles taken from --scene (default 2)."),
        seed: int = typer.Option(None, "--seed", min=0,
                                 help="Seed of the random tiles (default: fresh)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    ) -> None:
        """Export CKPT: model.onnx (onnxruntime), model.qonnx.onnx, intref.npz, golden .npy.

        The QONNX graph (qonnx executor), the integer reference and onnxruntime are checked
        against the Brevitas model value for value on the golden tiles; any difference fails
        the command and writes nothing.
        """
        from tinyicenet.commands import scene_tile_count
        from tinyicenet.export.bundle import export_model

        result = export_model(checkpoint, out, tile=tile, n_random=random_tiles, scene=scene,
                              n_scene=scene_tile_count(scene, scene_tiles), seed=seed,
                              quiet=quiet)
        for name, check in result.checks.items():
            if "differing" in check:
                typer.echo(f"{name}: {check['differing']} of {check['values']} values differ")
            else:
                typer.echo(f"{name}: max abs error {check['max_abs_error']:.3g} (float model)")
        typer.echo(f"wrote {result.out_dir}")
