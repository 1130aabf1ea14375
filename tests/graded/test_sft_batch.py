from sppo_lab.sft_batch import right_padded_batch


def test_rows_are_right_padded_and_only_responses_carry_labels():
    input_ids, attention, labels = right_padded_batch([[5, 6, 7, 8], [9, 10, 11]], [2, 1], pad_id=0)
    assert input_ids.tolist() == [[5, 6, 7, 8], [9, 10, 11, 0]]
    assert attention.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert labels.tolist() == [[-100, -100, 7, 8], [-100, 10, 11, -100]]
