"""RelationalData: validation, expansion, default groups."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm.data.relational import RelationalData, RelationBlock


def test_expand_and_groups():
    U = np.array([[1.0, 0.0], [0.0, 2.0]])
    I = sp.csr_matrix(np.array([[3.0], [4.0], [5.0]]))
    D = np.array([[1.0], [0.0], [7.0]])
    rel = RelationalData(D, [RelationBlock(U, [1, 0, 1], "user"), RelationBlock(I, [2, 2, 0])])
    assert rel.shape == (3, 4)
    np.testing.assert_array_equal(rel.expand().toarray(), [[1, 0, 2, 5], [0, 1, 0, 5],
                                                            [7, 0, 2, 3]])
    np.testing.assert_array_equal(rel.expand([2]).toarray(), [[7, 0, 2, 3]])
    assert rel.default_groups() == ["direct", "user", "user", "block1"]


@pytest.mark.parametrize("blocks, direct, message", [
    ([RelationBlock(np.eye(2), [0, 2])], None, r"blocks\[0\]\.index\[1\] = 2"),
    ([RelationBlock(np.eye(2), [0, 1]), RelationBlock(np.eye(2), [0])], None, "has 1 rows"),
    ([RelationBlock(np.eye(2), [0.5, 1.0])], None, "integers"),
    ([RelationBlock(np.eye(2), [0, 1])], np.ones((3, 1)), "X_direct has 3 rows"),
    ([RelationBlock(np.array([[np.nan, 1.0]]), [0, 0])], None, r"blocks\[0\]\.matrix"),
    ([], None, "at least one block"),
])
def test_errors(blocks, direct, message):
    with pytest.raises((ValueError, TypeError), match=message):
        RelationalData(direct, blocks)


def test_blocks_must_be_relation_blocks():
    with pytest.raises(TypeError, match="RelationBlock"):
        RelationalData(None, [(np.eye(2), [0, 1])])
