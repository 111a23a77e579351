"""`python -m mqcompare.placed MODULE ARGS...`: run a client module placed on its home
node of a cluster (mqcompare.placement)."""

from mqcompare.placement import main

if __name__ == "__main__":
    main()
