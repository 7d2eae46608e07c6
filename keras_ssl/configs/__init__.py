"""The packaged recipes: one module per recipe with `get_config()`, named by its file stem
(`keras-ssl train --config=simclr_cifar10`; `keras-ssl recipes` lists them with a line each).
`common` holds the blocks they share and is not a recipe."""
