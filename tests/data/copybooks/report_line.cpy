      * PRINT LINE OF A MONTHLY STATEMENT (RECLN = 80): edited numbers
       01  STMT-LINE.
       * Comments that start in column 8 (area A) are accepted too.
           05  STMT-CARD            PIC X(16).
           05  FILLER               PIC X(02)  VALUE SPACES.
           05  STMT-DATE            PIC 99/99/9999.
           05  FILLER               PIC X(02)  VALUE SPACES.
           05  STMT-AMOUNT          PIC ZZZ,ZZZ,ZZ9.99-.
           05  FILLER               PIC X(02)  VALUE SPACES.
           05  STMT-POINTS          PIC ZZ,ZZ9.
           05  FILLER               PIC X(02)  VALUE SPACES.
           05  STMT-RATE            PIC Z9.999.
           05  STMT-DESC            PIC X(19).
