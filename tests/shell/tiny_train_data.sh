# Sourced by the data-parallel training tests (test_mpi_train.sh, test_slurm_mpi.sh): Open MPI's
# settings for CI containers, a tiny seeded dataset and a config writer. Needs $work.
#
# Open MPI in CI containers: root is allowed, more ranks than cores, no process binding (the
# ranks share the machine's cores with whatever else runs), no cross-memory-attach (needs ptrace).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
export OMP_NUM_THREADS=1

# A tiny dataset of MetaImages: label = (voxel >= 128), as tests/shell/test_slurm_train.sh, but
# with seeded noise (USEG_TEST_SEED, default 1), so that a failure can be rerun.
data="$work/Dataset901_Tiny"
mkdir -p "$data/imagesTr" "$data/labelsTr"
header='ObjectType = Image\nNDims = 2\nDimSize = 40 40\nElementSpacing = 1 1\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n'
for k in 0 1 2 3 4; do
  python3 -c 'import random, sys; random.seed(int(sys.argv[1])); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(1600)))' \
    "$((${USEG_TEST_SEED:-1} * 10 + k))" >"$work/raw$k"
  # shellcheck disable=SC2059  # the header's \n are printf's
  { printf "$header"; cat "$work/raw$k"; } >"$data/imagesTr/c${k}_0000.mha"
  # shellcheck disable=SC2059
  { printf "$header"; tr '\001-\177' '\000' <"$work/raw$k" | tr '\200-\377' '\001'; } >"$data/labelsTr/c$k.mha"
done
printf '%s\n' '{"channel_names": {"0": "noise"}, "labels": {"background": 0, "bright": 1},' \
  ' "numTraining": 5, "file_ending": ".mha"}' >"$data/dataset.json"
config() {  # config EPOCHS LR OPTIMIZER NORM [BATCH_DICE]
  printf '%s\n' '{"model": {"dims": 2, "in_channels": 1, "num_classes": 2, "base_filters": 4, "depth": 2,' \
    '   "norm": "'"$4"'"},' \
    ' "train": {"patch_size": [32, 32], "batch_size": 4, "epochs": '"$1"', "iterations_per_epoch": 3,' \
    '   "optimizer": "'"$3"'", "lr": '"$2"', "schedule": "constant", "num_workers": 1, "batch_dice": '"${5:-false}"',' \
    '   "val_cases": ["c3", "c4"], "target_spacing": "native", "normalization": "zscore", "seed": 5}}'
}
